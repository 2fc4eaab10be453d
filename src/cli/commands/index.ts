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
import { pull } from './pull.js';
import { push } from './push.js';
import { recover } from './recover.js';
import { rm } from './rm.js';
import { tree } from './tree.js';
import { view } from './view.js';

/** Every subcommand, in the order of shared/API.md's "Command line" (and of `--help`); `recover`, not there, after `check`. */
export const COMMANDS: readonly Command[] = [
  init, importCommand, prepare, view, commit, rm, ls, tree, diff, cat, cp, exportCommand, df, gc, check, recover, push, pull,
];
