// Adds a zstd-compressed image to an OCI layout, beside a gzip one that umoci made (umoci 0.4
// writes gzip layers only). Used by scripts/image.sh:
//
//   node scripts/image-zstd.mjs <layout> <from-tag> <to-tag> <layer.tar> <layer.tar.zst>
//
// <to-tag> gets the config of <from-tag> with <layer.tar.zst> (moved into the layout) as its only
// layer, media type application/vnd.oci.image.layer.v1.tar+zstd, its diff_id the sha256 of
// <layer.tar> itself, as the image spec wants. Same files in: same blobs and digests out. Blobs
// nothing points at any more are left to `umoci gc`.
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const CONFIG = 'application/vnd.oci.image.config.v1+json';
const ZSTD_LAYER = 'application/vnd.oci.image.layer.v1.tar+zstd';
const REF_NAME = 'org.opencontainers.image.ref.name';

const [layout, fromTag, toTag, tar, compressed] = process.argv.slice(2);
if (!layout || !fromTag || !toTag || !tar || !compressed) {
  console.error('usage: image-zstd.mjs <layout> <from-tag> <to-tag> <layer.tar> <layer.tar.zst>');
  process.exit(2);
}

async function sha256(path) {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk);
  return hash.digest('hex');
}

const blobPath = (digest) => join(layout, 'blobs', ...digest.split(':'));

/** Stores bytes as a blob; returns its descriptor. */
function putBlob(mediaType, bytes) {
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  writeFileSync(blobPath(digest), bytes);
  return { mediaType, digest, size: bytes.length };
}

const indexPath = join(layout, 'index.json');
const index = JSON.parse(readFileSync(indexPath, 'utf8'));
const tagOf = (m) => m.annotations?.[REF_NAME];
const from = index.manifests.find((m) => tagOf(m) === fromTag);
if (!from) throw new Error(`no ${fromTag} in ${indexPath}`);
const manifest = JSON.parse(readFileSync(blobPath(from.digest), 'utf8'));
const config = JSON.parse(readFileSync(blobPath(manifest.config.digest), 'utf8'));
if (manifest.layers.length !== 1 || config.rootfs.diff_ids.length !== 1) {
  throw new Error(`${fromTag}: one layer expected, found ${manifest.layers.length}`);
}

const layer = {
  mediaType: ZSTD_LAYER,
  digest: `sha256:${await sha256(compressed)}`,
  size: statSync(compressed).size,
};
renameSync(compressed, blobPath(layer.digest));

config.rootfs.diff_ids = [`sha256:${await sha256(tar)}`];
const configDescriptor = putBlob(CONFIG, Buffer.from(JSON.stringify(config)));
const newManifest = { ...manifest, config: configDescriptor, layers: [layer] };
const manifestDescriptor = putBlob(MANIFEST, Buffer.from(JSON.stringify(newManifest)));

index.manifests = index.manifests.filter((m) => tagOf(m) !== toTag);
index.manifests.push({ ...from, ...manifestDescriptor, annotations: { [REF_NAME]: toTag } });
writeFileSync(indexPath, JSON.stringify(index));
console.log(`${toTag}: zstd layer ${layer.size} bytes`);
