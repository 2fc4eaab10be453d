/**
 * Labels cowstack puts on the snapshots it imports. Label names are API (the CLI shows them, and
 * `walk({ labels })` filters on them); values are strings.
 */

/** On the temporary active snapshot `importLayer` builds in: the key it will be committed as. */
export const LABEL_IMPORT_TARGET = 'cowstack.import.target';

/** The layer's diffID (`sha256:` of its uncompressed tar), on snapshots `importImage` commits. */
export const LABEL_DIFF_ID = 'cowstack.diff_id';

/**
 * The image config's `history` entry of the layer (the n-th entry whose `empty_layer` is not
 * true describes the n-th layer), one label per field present: `created` (RFC 3339), `created_by`
 * (the command that made it), `author`, `comment`. Entries with `empty_layer: true` describe no
 * snapshot and are not recorded. `exportImage` writes them back into the config's history.
 */
export const LABEL_HISTORY = Object.freeze({
  created: 'cowstack.history.created',
  created_by: 'cowstack.history.created_by',
  author: 'cowstack.history.author',
  comment: 'cowstack.history.comment',
});
