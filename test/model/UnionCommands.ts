import fc from 'fast-check';
import {
  BLOCK,
  bytesArb,
  idArb,
  keyArb,
  labelsArb,
  modeArb,
  NAMES,
  offsetArb,
  pathArb,
  readPathArb,
  smallBytesArb,
  targetArb,
} from './arbitraries.js';
import { AppendFileCommand } from './commands/AppendFileCommand.js';
import { ChmodCommand } from './commands/ChmodCommand.js';
import { ChownCommand } from './commands/ChownCommand.js';
import { CommitCommand } from './commands/CommitCommand.js';
import { type ConcurrentOp, ConcurrentCommand } from './commands/ConcurrentCommand.js';
import { DiffCommand } from './commands/DiffCommand.js';
import { GcCommand } from './commands/GcCommand.js';
import { type HandleOp, HandleWriteCommand, type WriteFlags } from './commands/HandleWriteCommand.js';
import { HandleReadCommand } from './commands/HandleReadCommand.js';
import { LinkCommand } from './commands/LinkCommand.js';
import { MkdirCommand } from './commands/MkdirCommand.js';
import { MountCommand } from './commands/MountCommand.js';
import { PrepareCommand } from './commands/PrepareCommand.js';
import { ReadFileCommand } from './commands/ReadFileCommand.js';
import { ReaddirCommand } from './commands/ReaddirCommand.js';
import { ReadlinkCommand } from './commands/ReadlinkCommand.js';
import { ReadStreamCommand } from './commands/ReadStreamCommand.js';
import { RemoveCommand } from './commands/RemoveCommand.js';
import { RenameCommand } from './commands/RenameCommand.js';
import { RmCommand } from './commands/RmCommand.js';
import { RmdirCommand } from './commands/RmdirCommand.js';
import { SnapshotStatCommand } from './commands/SnapshotStatCommand.js';
import { StatCommand } from './commands/StatCommand.js';
import { SymlinkCommand } from './commands/SymlinkCommand.js';
import { TruncateCommand } from './commands/TruncateCommand.js';
import { UnlinkCommand } from './commands/UnlinkCommand.js';
import { UpdateLabelsCommand } from './commands/UpdateLabelsCommand.js';
import { UsageCommand } from './commands/UsageCommand.js';
import { ViewCommand } from './commands/ViewCommand.js';
import { WalkCommand } from './commands/WalkCommand.js';
import { WriteFileCommand } from './commands/WriteFileCommand.js';
import { type StreamFlags, WriteStreamCommand } from './commands/WriteStreamCommand.js';
import { type WhiteoutOp, WhiteoutNameCommand } from './commands/WhiteoutNameCommand.js';
import { KeyRef, LayerRef, PathRef } from './commands/refs.js';
import type { SnapshotKind } from './api.js';
import type { UnionCommand } from './StoreModel.js';

/** Mostly a live layer; one time in five any layer, dead ones included (they must answer EBADF). */
const layerArb: fc.Arbitrary<LayerRef> = fc
  .tuple(fc.nat({ max: 15 }), fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }))
  .map(([index, live]) => new LayerRef(index, live));

/** A path to create or remove: a literal one, an existing entry, or a name in an existing directory, evenly. */
const pathRef: fc.Arbitrary<PathRef> = fc.oneof(
  pathArb.map((literal) => new PathRef({ literal })),
  fc.nat({ max: 63 }).map((existing) => new PathRef({ existing })),
  fc.tuple(fc.nat({ max: 63 }), fc.constantFrom(...NAMES)).map(([inDir, name]) => new PathRef({ inDir, name })),
);

/** A path to read: a literal one with `.`, `..` and `//` at times, or an existing entry. */
const readPathRef: fc.Arbitrary<PathRef> = fc.oneof(
  { weight: 3, arbitrary: readPathArb.map((literal) => new PathRef({ literal })) },
  { weight: 2, arbitrary: fc.nat({ max: 63 }).map((existing) => new PathRef({ existing })) },
);

/** An existing directory (the root included). */
const dirRef: fc.Arbitrary<PathRef> = fc.nat({ max: 63 }).map((inDir) => new PathRef({ inDir, name: '' }));

/** A key that should exist (of a kind): mostly an existing snapshot's, sometimes any literal key. */
function existingKey(kind?: SnapshotKind): fc.Arbitrary<KeyRef> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.nat({ max: 15 }).map((existing) => new KeyRef(kind === undefined ? { existing } : { existing, kind })) },
    { weight: 1, arbitrary: keyArb.map((literal) => new KeyRef({ literal })) },
  );
}

/** A key for something new: mostly a literal key (often free), sometimes an existing one (EEXIST). */
const newKey: fc.Arbitrary<KeyRef> = fc.oneof(
  { weight: 4, arbitrary: keyArb.map((literal) => new KeyRef({ literal })) },
  { weight: 1, arbitrary: fc.nat({ max: 15 }).map((existing) => new KeyRef({ existing })) },
);

const optionalMode = fc.option(modeArb, { nil: undefined });
const optionalLabels = fc.option(labelsArb, { nil: undefined });

const handleOpArb: fc.Arbitrary<HandleOp> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('write' as const), position: offsetArb, data: smallBytesArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), len: offsetArb }) },
);

/** Commands that change a layer's tree (or, on a read-only or dead layer, must fail to), as plain POSIX calls. */
const layerWrites: fc.Arbitrary<UnionCommand>[] = [
  fc.tuple(layerArb, pathRef, bytesArb, optionalMode).map(([l, p, d, mode]) => new WriteFileCommand(l, p, d, mode)),
  fc.tuple(layerArb, pathRef, bytesArb, optionalMode).map(([l, p, d, mode]) => new WriteFileCommand(l, p, d, mode)),
  fc.tuple(layerArb, pathRef, smallBytesArb).map(([l, p, d]) => new AppendFileCommand(l, p, d)),
  fc
    .tuple(layerArb, pathRef, fc.constantFrom<WriteFlags>('r+', 'r+', 'w', 'w+', 'wx', 'a', 'a+'), optionalMode, fc.array(handleOpArb, { minLength: 1, maxLength: 3 }))
    .map(([l, p, flags, mode, ops]) => new HandleWriteCommand(l, p, flags, mode, ops)),
  fc
    .tuple(layerArb, pathRef, fc.constantFrom<WriteFlags>('r+', 'a'), fc.array(handleOpArb, { minLength: 1, maxLength: 3 }))
    .map(([l, p, flags, ops]) => new HandleWriteCommand(l, p, flags, undefined, ops)),
  fc.tuple(layerArb, pathRef, offsetArb).map(([l, p, len]) => new TruncateCommand(l, p, len)),
  fc.tuple(layerArb, pathRef, fc.boolean(), optionalMode).map(([l, p, recursive, mode]) => new MkdirCommand(l, p, recursive, mode)),
  fc.tuple(layerArb, pathRef, fc.boolean(), optionalMode).map(([l, p, recursive, mode]) => new MkdirCommand(l, p, recursive, mode)),
  fc.tuple(layerArb, pathRef, fc.boolean(), fc.boolean()).map(([l, p, recursive, force]) => new RmCommand(l, p, recursive, force)),
  fc.tuple(layerArb, pathRef).map(([l, p]) => new UnlinkCommand(l, p)),
  fc.tuple(layerArb, pathRef).map(([l, p]) => new RmdirCommand(l, p)),
  fc.tuple(layerArb, pathRef, pathRef).map(([l, from, to]) => new RenameCommand(l, from, to)),
  fc.tuple(layerArb, pathRef, pathRef).map(([l, from, to]) => new RenameCommand(l, from, to)),
  fc.tuple(layerArb, targetArb, pathRef).map(([l, target, p]) => new SymlinkCommand(l, target, p)),
  fc.tuple(layerArb, pathRef, pathRef).map(([l, existing, p]) => new LinkCommand(l, existing, p)),
  fc
    .tuple(
      layerArb,
      pathRef,
      fc.option(fc.constantFrom<StreamFlags>('w', 'r+', 'a'), { nil: undefined }),
      fc.option(offsetArb, { nil: undefined }),
      fc.array(smallBytesArb, { minLength: 1, maxLength: 3 }),
    )
    .map(([l, p, flags, start, chunks]) => new WriteStreamCommand(l, p, flags, flags === 'a' ? undefined : start, chunks)),
  fc.tuple(layerArb, pathRef, modeArb).map(([l, p, mode]) => new ChmodCommand(l, p, mode)),
  fc.tuple(layerArb, pathRef, idArb, idArb).map(([l, p, uid, gid]) => new ChownCommand(l, p, uid, gid)),
];

const concurrentOpArb: fc.Arbitrary<ConcurrentOp> = fc.oneof(
  fc.record({ kind: fc.constant('writeFile' as const), path: pathRef, data: bytesArb }),
  fc.record({ kind: fc.constant('appendFile' as const), path: pathRef, data: smallBytesArb }),
  fc.record({ kind: fc.constant('truncate' as const), path: pathRef, len: offsetArb }),
  fc.record({ kind: fc.constant('mkdir' as const), path: pathRef }),
  fc.record({ kind: fc.constant('rm' as const), path: pathRef }),
  fc.record({ kind: fc.constant('rename' as const), path: pathRef, to: pathRef }),
  fc.record({ kind: fc.constant('readFile' as const), path: pathRef }),
);

/** Several calls on one layer at once: they must take effect in the order they were made. */
const concurrent: fc.Arbitrary<UnionCommand> = fc
  .tuple(layerArb, fc.array(concurrentOpArb, { minLength: 2, maxLength: 4 }))
  .map(([l, ops]) => new ConcurrentCommand(l, ops));

/** Creating `.wh.` names: EINVAL, cowstack's own rule (Linux would create them). */
const whiteoutNames: fc.Arbitrary<UnionCommand> =
  fc
    .tuple(
      layerArb,
      fc.constantFrom<WhiteoutOp>('writeFile', 'appendFile', 'open-w', 'open-wx', 'mkdir', 'mkdir-p', 'symlink', 'link', 'rename'),
      dirRef,
      fc.constantFrom('.wh.a', '.wh..wh..opq', '.wh.'),
      pathRef,
    )
    .map(([l, op, dir, name, source]) => new WhiteoutNameCommand(l, op, dir, name, source));

/** Commands that only read a layer and compare what they read. */
const layerReads: fc.Arbitrary<UnionCommand>[] = [
  fc.tuple(layerArb, readPathRef).map(([l, p]) => new ReadFileCommand(l, p)),
  fc.tuple(layerArb, readPathRef, fc.boolean()).map(([l, p, types]) => new ReaddirCommand(l, p, types)),
  fc.tuple(layerArb, readPathRef, fc.boolean()).map(([l, p, follow]) => new StatCommand(l, p, follow)),
  fc.tuple(layerArb, readPathRef).map(([l, p]) => new ReadlinkCommand(l, p)),
  fc
    .tuple(layerArb, pathRef, offsetArb, fc.constantFrom(1, BLOCK, 2 * BLOCK + 7, 4 * BLOCK))
    .map(([l, p, position, length]) => new HandleReadCommand(l, p, position, length)),
  fc
    .tuple(layerArb, readPathRef, fc.option(offsetArb, { nil: undefined }), fc.option(offsetArb, { nil: undefined }))
    .map(([l, p, start, end]) => new ReadStreamCommand(l, p, start, end !== undefined && start !== undefined && end < start ? start : end)),
];

/** Snapshot bookkeeping: prepare, view, mount, commit, remove, and the store's queries. */
const storeCommands: fc.Arbitrary<UnionCommand>[] = [
  fc.tuple(newKey, fc.option(existingKey('committed'), { nil: undefined, freq: 2 }), optionalLabels).map(([k, p, labels]) => new PrepareCommand(k, p, labels)),
  fc.tuple(newKey, existingKey('committed'), optionalLabels).map(([k, p, labels]) => new PrepareCommand(k, p, labels)),
  fc.tuple(newKey, existingKey('committed'), optionalLabels).map(([k, p, labels]) => new ViewCommand(k, p, labels)),
  existingKey().map((k) => new MountCommand(k)),
  fc.tuple(newKey, existingKey('active'), fc.boolean(), optionalLabels).map(([name, key, keep, labels]) => new CommitCommand(name, key, keep, labels)),
  fc.tuple(newKey, existingKey('active'), fc.boolean(), optionalLabels).map(([name, key, keep, labels]) => new CommitCommand(name, key, keep, labels)),
  existingKey().map((k) => new RemoveCommand(k)),
  existingKey().map((k) => new SnapshotStatCommand(k)),
  fc.tuple(existingKey(), labelsArb).map(([k, labels]) => new UpdateLabelsCommand(k, labels)),
  fc
    .record(
      { kind: fc.constantFrom('active' as const, 'committed' as const, 'view' as const), parent: keyArb, labels: labelsArb },
      { requiredKeys: [] },
    )
    .map((filter) => new WalkCommand(filter)),
  fc
    .tuple(existingKey(), fc.oneof(fc.constant(undefined), fc.constant(null), existingKey('committed')))
    .map(([k, base]) => new DiffCommand(k, base)),
  existingKey().map((k) => new UsageCommand(k)),
  fc.constant(new GcCommand()),
];

/** Every command of the union model, weighted towards writes (listed twice where they matter most). */
export const allCommands: fc.Arbitrary<UnionCommand>[] = [...layerWrites, whiteoutNames, concurrent, ...layerReads, ...storeCommands];

/**
 * The layer calls whose every answer is Linux's own (no `.wh.` rule, no snapshots, and no
 * calls issued at once: node:fs does not order those): what hostOracle.test.ts runs against
 * node:fs on a real directory to check the model itself.
 */
export const posixLayerCommands: fc.Arbitrary<UnionCommand>[] = [...layerWrites, ...layerReads];

/** The sequences a run executes. */
export function unionCommands(maxCommands: number): fc.Arbitrary<Iterable<UnionCommand>> {
  return fc.commands(allCommands, { maxCommands, size: 'medium' });
}
