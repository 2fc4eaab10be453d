import fc from 'fast-check';
import type { BlockId } from '../../../src/core/BlockId.js';
import type { BlockIndexOptions, RecordLocation } from '../../../src/store/disk/BlockIndex.js';
import { BadArgumentCommand, BAD_CALLS } from './commands/BadArgumentCommand.js';
import { DeleteCommand } from './commands/DeleteCommand.js';
import { DeletePackCommand } from './commands/DeletePackCommand.js';
import { EntriesCommand } from './commands/EntriesCommand.js';
import { GetCommand } from './commands/GetCommand.js';
import { IdRef } from './commands/IdRef.js';
import { IdsInPackCommand } from './commands/IdsInPackCommand.js';
import { ReopenCommand } from './commands/ReopenCommand.js';
import { SetCommand } from './commands/SetCommand.js';
import { SetManyCommand } from './commands/SetManyCommand.js';
import type { IndexCommand } from './IndexModel.js';

const hex = (bytes: Iterable<number>): BlockId => Buffer.from([...bytes]).toString('hex') as BlockId;

/**
 * Ids: random ones, and ones that differ from a few bases in one byte only, so that many share
 * their first word (or 31 bytes) and comparisons reach deep into the id.
 */
export const idArb: fc.Arbitrary<BlockId> = fc.oneof(
  fc.uint8Array({ minLength: 32, maxLength: 32 }).map(hex),
  fc
    .tuple(fc.constantFrom(0x00, 0x55, 0xff), fc.nat(31), fc.nat(255))
    .map(([base, at, value]) => hex(Array.from({ length: 32 }, (_, i) => (i === at ? value : base)))),
);

const u32Arb = fc.tuple(fc.nat(0xffff), fc.nat(0xffff)).map(([high, low]) => high * 0x1_0000 + low);
/** Few packs, so that deletePack and idsInPack find something; now and then the extremes. */
export const packArb = fc.oneof({ weight: 5, arbitrary: fc.nat(3) }, { weight: 1, arbitrary: fc.constantFrom(0xffff_ffff, 2 ** 31) });

export const locationArb: fc.Arbitrary<RecordLocation> = fc.record({
  pack: packArb,
  offset: fc.oneof(u32Arb, fc.constantFrom(0, 0xffff_ffff)),
  length: fc.oneof(fc.nat(), fc.constantFrom(0, 0x7fff_ffff)),
  kind: fc.constantFrom('block' as const, 'node' as const),
});

/** Tiny merge bounds, so that nearly every run merges, compacts and resizes many times. */
export const optionsArb: fc.Arbitrary<BlockIndexOptions> = fc.record({
  pendingMin: fc.integer({ min: 1, max: 8 }),
  pendingDivisor: fc.integer({ min: 1, max: 8 }),
});

const idRefArb = fc
  .tuple(fc.constantFrom('held' as const, 'held' as const, 'deleted' as const, 'literal' as const), fc.nat(), idArb)
  .map(([from, pick, literal]) => new IdRef(from, pick, literal));

export function indexCommands(maxCommands: number): fc.Arbitrary<Iterable<IndexCommand>> {
  return fc.commands(
    [
      fc.tuple(idRefArb, locationArb).map(([target, location]) => new SetCommand(target, location)),
      fc.tuple(idRefArb, locationArb).map(([target, location]) => new SetCommand(target, location)),
      fc.tuple(fc.nat(), fc.integer({ min: 1, max: 120 }), packArb).map(([seed, count, pack]) => new SetManyCommand(seed, count, pack)),
      idRefArb.map((target) => new DeleteCommand(target)),
      idRefArb.map((target) => new DeleteCommand(target)),
      packArb.map((pack) => new DeletePackCommand(pack)),
      idRefArb.map((target) => new GetCommand(target)),
      packArb.map((pack) => new IdsInPackCommand(pack)),
      fc.constant(new EntriesCommand()),
      fc.constant(new ReopenCommand()),
      fc.constantFrom(...Object.keys(BAD_CALLS)).map((call) => new BadArgumentCommand(call)),
    ],
    { maxCommands },
  );
}
