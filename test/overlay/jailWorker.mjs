// @ts-check
/**
 * The kernel side of the overlayfs oracle (kernel.ts, `Jail.enter`): runs as
 * `chroot MERGED node --input-type=module -e <this source>`, so `/` is the merged overlay, and
 * applies each call it reads from stdin (one JSON object a line) with node:fs/promises, answering
 * one JSON line: `{ ok: true, value? }` or `{ ok: false, code }`.
 *
 * The calls mirror what ops.ts does on a cowstack `Layer`, with API.md's defaults (a file 0o644, a
 * directory 0o755, no umask). Reads answer raw values (base64 bytes, stat fields) that ops.ts
 * puts in the same shape as the engine's. The skeleton's names (COWSTACK_JAIL_HIDDEN) are left
 * out of a listing of the root. Only node builtins: nothing else exists inside the jail.
 */
import * as fs from 'node:fs/promises';
import { createInterface } from 'node:readline';

process.umask(0);
const hidden = new Set(JSON.parse(process.env['COWSTACK_JAIL_HIDDEN'] ?? '[]'));

/** @param {import('node:fs').Stats} st */
function typeOf(st) {
  return st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : 'other';
}

/** @param {import('node:fs').Stats} st */
function statValue(st) {
  return { type: typeOf(st), mode: st.mode, uid: st.uid, gid: st.gid, size: st.size, nlink: st.nlink };
}

/** @param {any} op */
async function perform(op) {
  const data = typeof op.data === 'string' ? Buffer.from(op.data, 'base64') : Buffer.alloc(0);
  switch (op.kind) {
    case 'ping':
      return undefined;
    case 'writeFile':
      return fs.writeFile(op.path, data, { mode: op.mode ?? 0o644 });
    case 'write': {
      const handle = await fs.open(op.path, op.flags, op.mode ?? 0o644);
      try {
        await handle.write(data, 0, data.length, op.position);
      } finally {
        await handle.close();
      }
      return undefined;
    }
    case 'truncate':
      return fs.truncate(op.path, op.len);
    case 'mkdir':
      await fs.mkdir(op.path, { recursive: op.recursive, mode: op.mode ?? 0o755 });
      return undefined;
    case 'rm':
      try {
        return await fs.rm(op.path, { recursive: op.recursive, force: op.force });
      } catch (error) {
        // node names this one ERR_FS_EISDIR; its errno, and API.md's code, is EISDIR.
        if (/** @type {any} */ (error).code === 'ERR_FS_EISDIR') /** @type {any} */ (error).code = 'EISDIR';
        throw error;
      }
    case 'recreate':
      await perform({ kind: 'rm', path: op.path, recursive: true, force: true });
      return perform({ kind: 'mkdir', path: op.path, recursive: false, mode: op.mode });
    case 'rmdir':
      return fs.rmdir(op.path);
    case 'unlink':
      return fs.unlink(op.path);
    case 'rename':
      return fs.rename(op.from, op.to);
    case 'symlink':
      return fs.symlink(op.target, op.path);
    case 'link':
      return fs.link(op.existing, op.path);
    case 'chmod':
      return fs.chmod(op.path, op.mode);
    case 'chown':
      return fs.chown(op.path, op.uid, op.gid);
    case 'readFile':
      return (await fs.readFile(op.path)).toString('base64');
    case 'stat':
      return statValue(await fs.stat(op.path));
    case 'lstat':
      return statValue(await fs.lstat(op.path));
    case 'readdir': {
      const names = await fs.readdir(op.path);
      const [dir, root] = await Promise.all([fs.stat(op.path), fs.stat('/')]);
      const atRoot = dir.ino === root.ino && dir.dev === root.dev;
      return names.filter((name) => !(atRoot && hidden.has(name))).sort();
    }
    case 'readlink':
      return fs.readlink(op.path);
    default:
      throw Object.assign(new Error(`unknown call ${op.kind}`), { code: 'EUNKNOWNCALL' });
  }
}

for await (const line of createInterface({ input: process.stdin })) {
  let reply;
  try {
    const value = await perform(JSON.parse(line));
    reply = value === undefined ? { ok: true } : { ok: true, value };
  } catch (error) {
    const code = /** @type {any} */ (error)?.code;
    reply = { ok: false, code: typeof code === 'string' ? code : 'ENOCODE', message: String(/** @type {any} */ (error)?.message ?? error) };
  }
  process.stdout.write(`${JSON.stringify(reply)}\n`);
}
