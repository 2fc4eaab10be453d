import fc from 'fast-check';
import type { Layer } from '../api.js';
import { assertOutcome, attempt } from '../outcome.js';
import type { ReferenceFs } from '../ReferenceFs.js';
import type { StoreModel, UnionCommand, UnionReal } from '../StoreModel.js';
import { assertSameStores } from '../tree.js';
import { fresh, type LayerRef, type PathRef } from './refs.js';

export type WhiteoutOp = 'writeFile' | 'appendFile' | 'open-w' | 'open-wx' | 'mkdir' | 'mkdir-p' | 'symlink' | 'link' | 'rename';

/**
 * Creating a name that begins with `.wh.` rejects with EINVAL (API.md: OCI reserves it), by every
 * call that makes a name. Only tried where nothing else could fail first (a live writable layer,
 * an existing parent directory, an existing non-directory source for link and rename), because
 * API.md does not order EINVAL against the other codes.
 */
export class WhiteoutNameCommand implements UnionCommand {
  #path: string | undefined;
  #source: string | undefined;

  constructor(
    readonly layer: LayerRef,
    readonly op: WhiteoutOp,
    readonly dir: PathRef,
    readonly name: string,
    readonly source: PathRef,
  ) {}

  [fc.cloneMethod](): WhiteoutNameCommand {
    return new WhiteoutNameCommand(fresh(this.layer), fresh(this.op), fresh(this.dir), fresh(this.name), fresh(this.source));
  }

  #resolve(fs: ReferenceFs | undefined): { path: string; source: string } {
    const dir = this.dir.resolve(fs);
    this.#path = `${dir.replace(/\/+$/, '')}/${this.name}`;
    this.#source = this.source.resolve(fs);
    return { path: this.#path, source: this.#source };
  }

  check(m: Readonly<StoreModel>): boolean {
    const handle = this.layer.peek(m);
    const snapshot = handle === undefined ? undefined : m.live(handle);
    if (snapshot === undefined || handle!.readOnly) return false;
    const { path, source } = this.#resolve(snapshot.fs);
    try {
      if (snapshot.fs.stat(path.slice(0, path.lastIndexOf('/')) || '/').type !== 'dir') return false;
      if (this.op === 'link' || this.op === 'rename') return snapshot.fs.lstat(source).type !== 'dir';
      return true;
    } catch {
      return false;
    }
  }

  async run(m: StoreModel, r: UnionReal): Promise<void> {
    const { handle, layer } = this.layer.pick(m, r);
    const { path, source } = this.#resolve(m.live(handle)?.fs);
    const expected = m.onLayer(handle, 'write', (fs) => this.#model(fs, path, source));
    const actual = await attempt(() => this.#real(layer, path, source));
    assertOutcome(this.toString(), expected, actual);
    await assertSameStores(m, r);
  }

  #model(fs: ReferenceFs, path: string, source: string): void {
    const data = Buffer.from('x');
    switch (this.op) {
      case 'writeFile': return fs.writeFile(path, data);
      case 'appendFile': return fs.appendFile(path, data);
      case 'open-w': fs.open(path, 'w'); return;
      case 'open-wx': fs.open(path, 'wx'); return;
      case 'mkdir': return fs.mkdir(path);
      case 'mkdir-p': return fs.mkdir(path, { recursive: true });
      case 'symlink': return fs.symlink('a', path);
      case 'link': return fs.link(source, path);
      case 'rename': return fs.rename(source, path);
    }
  }

  async #real(layer: Layer, path: string, source: string): Promise<void> {
    const data = Buffer.from('x');
    switch (this.op) {
      case 'writeFile': return layer.writeFile(path, data);
      case 'appendFile': return layer.appendFile(path, data);
      case 'open-w': return (await layer.open(path, 'w')).close();
      case 'open-wx': return (await layer.open(path, 'wx')).close();
      case 'mkdir': await layer.mkdir(path); return;
      case 'mkdir-p': await layer.mkdir(path, { recursive: true }); return;
      case 'symlink': return layer.symlink('a', path);
      case 'link': return layer.link(source, path);
      case 'rename': return layer.rename(source, path);
    }
  }

  toString(): string {
    const path = JSON.stringify(this.#path ?? `${this.dir}/${this.name}`);
    const source = JSON.stringify(this.#source ?? String(this.source));
    const call = {
      writeFile: `writeFile(${path}, 'x')`,
      appendFile: `appendFile(${path}, 'x')`,
      'open-w': `open(${path}, 'w')`,
      'open-wx': `open(${path}, 'wx')`,
      mkdir: `mkdir(${path})`,
      'mkdir-p': `mkdir(${path}, { recursive: true })`,
      symlink: `symlink('a', ${path})`,
      link: `link(${source}, ${path})`,
      rename: `rename(${source}, ${path})`,
    }[this.op];
    return `${this.layer}.${call} /* expect EINVAL */`;
  }
}
