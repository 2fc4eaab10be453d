import { describe, expect, it } from 'vitest';
import { parseChallenges } from '../../src/registry/challenge.js';
import { formatReference, isLoopback, parseReference } from '../../src/registry/Reference.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

describe('image references', () => {
  it('parse host[:port]/name[:tag|@digest]', () => {
    expect(parseReference('127.0.0.1:5000/cowstack/base:v1')).toEqual({
      registry: '127.0.0.1:5000', hostname: '127.0.0.1', authority: '127.0.0.1:5000', repository: 'cowstack/base', tag: 'v1', digest: undefined,
    });
    expect(parseReference('localhost/a')).toMatchObject({ registry: 'localhost', repository: 'a', tag: 'latest' });
    expect(parseReference(`registry.example.com/a/b/c@${DIGEST}`)).toMatchObject({ repository: 'a/b/c', tag: undefined, digest: DIGEST });
    expect(parseReference(`registry.example.com/a:v2@${DIGEST}`)).toMatchObject({ tag: undefined, digest: DIGEST });
    expect(parseReference('[::1]:5000/x:y')).toMatchObject({ registry: '[::1]:5000', hostname: '::1', authority: '[::1]:5000', repository: 'x' });
    expect(parseReference('my-host.local:443/a.b_c__d-e---f')).toMatchObject({ repository: 'a.b_c__d-e---f' });
  });

  it('name Docker Hub when the first component is no host', () => {
    expect(parseReference('alpine')).toMatchObject({ registry: 'docker.io', hostname: 'registry-1.docker.io', repository: 'library/alpine', tag: 'latest' });
    expect(parseReference('user/app:1.0')).toMatchObject({ registry: 'docker.io', repository: 'user/app', tag: '1.0' });
    expect(formatReference(parseReference('alpine'))).toBe('docker.io/library/alpine:latest');
    expect(formatReference(parseReference(`h:1/x@${DIGEST}`))).toBe(`h:1/x@${DIGEST}`);
  });

  it('refuse anything else with EINVAL naming the fault', () => {
    for (const bad of [
      'http://127.0.0.1:5000/x', '127.0.0.1:5000/Upper', '127.0.0.1:5000/a//b', '127.0.0.1:5000/', '127.0.0.1:5000/x:', '127.0.0.1:5000/x:-bad',
      `127.0.0.1:5000/x:${'t'.repeat(129)}`, '127.0.0.1:5000/x@sha256:abc', '127.0.0.1:99999/x', 'bad_host.com/x', `h.com/${'a'.repeat(260)}`,
      '[::zz]:5/x', '', '-a.com/x',
    ]) {
      expect(() => parseReference(bad), bad).toThrow(expect.objectContaining({ code: 'EINVAL', syscall: bad.includes('@sha256:abc') ? 'digest' : 'reference' }));
    }
    expect(() => parseReference(42 as unknown as string)).toThrow(TypeError);
  });

  it('know loopback hosts literally, never by resolving a name', () => {
    for (const host of ['localhost', 'LOCALHOST', '127.0.0.1', '127.255.0.9', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1']) expect(isLoopback(host), host).toBe(true);
    for (const host of ['128.0.0.1', '10.0.0.1', '::2', 'localhost.example.com', '127.0.0.1.nip.io', '1.2.3.4', '::ffff:10.0.0.1', '127.1']) expect(isLoopback(host), host).toBe(false);
  });
});

describe('WWW-Authenticate challenges', () => {
  it('parse schemes and parameters, quoted or not, several per header', () => {
    expect(parseChallenges('Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push"')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.example.com/token', service: 'registry.example.com', scope: 'repository:a/b:pull,push' } },
    ]);
    expect(parseChallenges('Basic realm="cowstack", Bearer realm=x , error="invalid_token"')).toEqual([
      { scheme: 'basic', params: { realm: 'cowstack' } },
      { scheme: 'bearer', params: { realm: 'x', error: 'invalid_token' } },
    ]);
    expect(parseChallenges('Basic realm="a \\"quoted\\" \\\\ realm"')).toEqual([{ scheme: 'basic', params: { realm: 'a "quoted" \\ realm' } }]);
    expect(parseChallenges('Basic')).toEqual([{ scheme: 'basic', params: {} }]);
  });

  it('give fewer challenges, never wrong ones, for a malformed header', () => {
    expect(parseChallenges('')).toEqual([]);
    expect(parseChallenges('Basic realm="x", Bearer realm="unclosed')).toEqual([{ scheme: 'basic', params: { realm: 'x' } }]);
    expect(parseChallenges('Negotiate abc==, Basic realm=y')).toEqual([]); // a token68 is not read, nor what follows it
  });
});
