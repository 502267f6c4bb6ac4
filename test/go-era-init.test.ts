// What the executable run as the image's /bin/cp or /bin/sh does with a command line: the Go
// kubexit's init commands install, everything else is refused with a specific problem. The
// executable itself, in the image's root, is tested in package-image.test.ts.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { goEraInit } from '../src/tooling/go-era-init.js';
import { tempDir } from './support/temp.js';

const install = (dir: string, atMountPath = dir === '/kubexit') => ({
  kind: 'install',
  dir,
  atMountPath,
});

describe('the Go-era init commands', () => {
  it('cp from any of the Go images’ paths to <dir>/kubexit installs into <dir>', () => {
    assert.deepEqual(
      goEraInit('cp', ['/app/bin/kubexit', '/kubexit/kubexit']),
      install('/kubexit'),
    );
    assert.deepEqual(goEraInit('cp', ['/bin/kubexit', '/kubexit/kubexit']), install('/kubexit'));
    assert.deepEqual(goEraInit('cp', ['/usr/local/bin/kubexit', '/x/kubexit']), install('/x'));
    assert.deepEqual(goEraInit('cp', ['/bin//kubexit', '/kubexit//kubexit']), install('/kubexit'));
  });

  it('cp into a folder, as cp does: written with a trailing /, or one that exists', () => {
    assert.deepEqual(goEraInit('cp', ['/bin/kubexit', '/kubexit/']), install('/kubexit/', true));
    const dir = join(tempDir(), 'volume');
    mkdirSync(dir);
    assert.deepEqual(goEraInit('cp', ['/bin/kubexit', dir]), install(dir, false));
    // A target that is neither is the file <dir>/kubexit: "volume" is not that name.
    assert.equal(goEraInit('cp', ['/bin/kubexit', join(dir, 'missing')]).kind, 'refuse');
  });

  it('sh -c with exactly one such cp command, quoted or not', () => {
    const cases = [
      'cp /app/bin/kubexit /kubexit/kubexit',
      '  cp \'/bin/kubexit\' "/kubexit/kubexit" ',
      '/bin/cp /bin/kubexit /kubexit/kubexit',
    ];
    for (const script of cases) {
      assert.deepEqual(goEraInit('sh', ['-c', script]), install('/kubexit'), script);
    }
  });

  const refused: [string, string[], RegExp][] = [
    ['cp', ['/etc/passwd', '/kubexit/kubexit'], /^\/etc\/passwd is not kubexit/],
    ['cp', ['kubexit', '/kubexit/kubexit'], /^kubexit is not kubexit/],
    ['cp', ['-a', '/bin/kubexit', '/kubexit/kubexit'], /^option -a: this cp takes none$/],
    [
      'cp',
      ['/bin/kubexit', '/kubexit/kubexit', '/x/kubexit'],
      /^expected 2 operands, a source and a target; got 3$/,
    ],
    ['cp', [], /got 0$/],
    ['cp', ['/bin/kubexit', '/kubexit/kubexit.bak'], /must be named kubexit/],
    ['sh', [], /^this sh runs only sh -c/],
    ['sh', ['install.sh'], /^this sh runs only sh -c/],
    ['sh', ['-c', 'cp /bin/kubexit /kubexit/kubexit', 'sh'], /^this sh runs only sh -c/],
    ['sh', ['-c', 'cp /bin/kubexit /kubexit/kubexit; chmod +x /kubexit/kubexit'], /";".*no shell/],
    ['sh', ['-c', 'cp /bin/kubexit $DIR/kubexit'], /"\$".*no shell/],
    ['sh', ['-c', 'cp /bin/kubexit /kubexit/kubexit\nls'], /"\\n".*no shell/],
    ['sh', ['-c', "cp '/bin/kubexit /kubexit/kubexit"], /unclosed ' quote/],
    ['sh', ['-c', 'mv /bin/kubexit /kubexit/kubexit'], /runs "mv", not cp/],
    ['sh', ['-c', ''], /runs "", not cp/],
  ];
  for (const [name, args, problem] of refused) {
    it(`refuses ${name} ${JSON.stringify(args)}`, () => {
      const r = goEraInit(name, args);
      assert.equal(r.kind, 'refuse');
      assert.match(r.kind === 'refuse' ? r.problem : '', problem);
    });
  }
});
