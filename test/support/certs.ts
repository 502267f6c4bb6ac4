// Certificates made with openssl for HTTPS servers under test: a CA, and serving certificates
// it signs for 127.0.0.1 (an IP SAN: what the kube-apiserver checks when it calls a webhook URL).
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Ca {
  dir: string;
  cert: string;
  key: string;
  pem: string;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export function makeCa(dir: string): Ca {
  const cert = join(dir, 'ca.crt');
  const key = join(dir, 'ca.key');
  openssl([
    'req',
    '-x509',
    ...EC,
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '2',
    '-subj',
    '/CN=kubexit-test-ca',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return { dir, cert, key, pem: readFileSync(cert, 'utf8') };
}

/** A serving certificate for 127.0.0.1 signed by `ca`: its PEM text and key. */
export function makeServingCert(ca: Ca, name: string): { cert: string; key: string } {
  const base = join(ca.dir, name);
  const ext = `${base}.ext`;
  writeFileSync(
    ext,
    'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n',
  );
  openssl(['req', ...EC, '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${name}`]);
  openssl([
    'x509',
    '-req',
    '-in',
    `${base}.csr`,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-CAcreateserial',
    '-out',
    `${base}.crt`,
    '-days',
    '2',
    '-extfile',
    ext,
  ]);
  return { cert: readFileSync(`${base}.crt`, 'utf8'), key: readFileSync(`${base}.key`, 'utf8') };
}

export function fingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

/**
 * A folder laid out as the kubelet lays out a secret volume: the files are symlinks through
 * `..data`, a symlink to a timestamped folder; an update writes a new folder and renames a new
 * `..data` over the old one, atomically.
 */
export class SecretVolume {
  private version = 0;

  constructor(readonly dir: string) {}

  get certFile(): string {
    return join(this.dir, 'tls.crt');
  }

  get keyFile(): string {
    return join(this.dir, 'tls.key');
  }

  write(files: { cert: string; key: string }): void {
    const data = `..2026_11_30_00_00_00.${++this.version}`;
    mkdirSync(join(this.dir, data));
    writeFileSync(join(this.dir, data, 'tls.crt'), files.cert);
    writeFileSync(join(this.dir, data, 'tls.key'), files.key, { mode: 0o600 });
    symlinkSync(data, join(this.dir, '..data_tmp'));
    renameSync(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    if (this.version === 1) {
      symlinkSync('..data/tls.crt', this.certFile);
      symlinkSync('..data/tls.key', this.keyFile);
    }
  }
}
