import { InlineHasher } from '../../src/hashing/InlineHasher.js';
import { hasherSuite } from './hasherSuite.js';

hasherSuite('InlineHasher', () => new InlineHasher());
