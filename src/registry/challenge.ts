/** One challenge of a `WWW-Authenticate` header: its scheme (lowercased) and parameters (names lowercased). */
export interface Challenge {
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
}

const TOKEN = /[!#$%&'*+\-.^_`|~0-9A-Za-z]+/y;
const SPACE = /[ \t]*/y;

/**
 * Parses a `WWW-Authenticate` value (RFC 9110 §11.6.1): one or more challenges, each a scheme then
 * `name=value` or `name="quoted value"` parameters, separated by commas. Whatever does not parse
 * (a token68 such as `Negotiate abc==`, an unclosed quote) ends the list: the challenges before
 * it are returned, so a malformed header gives fewer challenges, never a wrong one.
 */
export function parseChallenges(header: string): Challenge[] {
  const challenges: Challenge[] = [];
  let at = 0;
  const skip = (pattern: RegExp): string | undefined => {
    pattern.lastIndex = at;
    const match = pattern.exec(header);
    if (match === null) return undefined;
    at = pattern.lastIndex;
    return match[0];
  };
  const commas = (): void => {
    for (skip(SPACE); header[at] === ','; skip(SPACE)) at++;
  };
  for (commas(); at < header.length; commas()) {
    const scheme = skip(TOKEN);
    if (scheme === undefined) break;
    const params: Record<string, string> = {};
    challenges.push({ scheme: scheme.toLowerCase(), params });
    skip(SPACE);
    for (;;) {
      const start = at;
      const name = skip(TOKEN);
      skip(SPACE);
      if (name === undefined || header[at] !== '=') {
        at = start;
        break;
      }
      at++;
      skip(SPACE);
      const value = header[at] === '"' ? quoted() : skip(TOKEN);
      if (value === undefined) {
        challenges.pop();
        return challenges;
      }
      params[name.toLowerCase()] = value;
      skip(SPACE);
      if (header[at] !== ',') break;
      at++;
      skip(SPACE);
    }
  }
  return challenges;

  function quoted(): string | undefined {
    let out = '';
    for (at++; at < header.length; at++) {
      const char = header[at]!;
      if (char === '"') {
        at++;
        return out;
      }
      if (char === '\\') at++;
      out += header[at] ?? '';
    }
    return undefined;
  }
}
