import type { Command } from '../Command.js';
import { cat } from './cat.js';
import { check } from './check.js';
import { commit } from './commit.js';
import { cp } from './cp.js';
import { df } from './df.js';
import { diff } from './diff.js';
import { exportCommand } from './export.js';
import { gc } from './gc.js';
import { importCommand } from './import.js';
import { init } from './init.js';
import { ls } from './ls.js';
import { prepare } from './prepare.js';
import { rm } from './rm.js';
import { tree } from './tree.js';
import { view } from './view.js';

/** Every subcommand, in the order of shared/API.md's "Command line" (and of `--help`). */
export const COMMANDS: readonly Command[] = [
  init, importCommand, prepare, view, commit, rm, ls, tree, diff, cat, cp, exportCommand, df, gc, check,
];

/** Named in API.md but not built yet: `--help` says so, and asking for one is a usage error saying so. */
export const NOT_YET_AVAILABLE: readonly string[] = ['push', 'pull'];
