// age's X25519 sealing (https://age-encryption.org/v1) on the runtime's own crypto — node:crypto,
// which Node and Deno both have — instead of the library's JavaScript ChaCha20 and X25519: a
// 10,000-leaf fleet renewal seals 20 key files (2.6 MB), ~110 ms of its main thread through the
// library, ~10 ms here. The same format the library writes (its header encoding, one X25519
// stanza per recipient in order, 64 KiB STREAM chunks, a full last chunk when the payload fills
// it); test/age.test.ts opens these files with the age CLI and with the library. Where the
// runtime has no node:crypto (a browser), seal() keeps the library's encrypter.
// Reached through process.getBuiltinModule, not an import: lib/age stays free of node: imports.
import { bech32 } from "@scure/base";

type NodeCrypto = typeof import("node:crypto");
type BufferClass = typeof import("node:buffer").Buffer;

const builtin = (id: string): unknown => {
  try {
    return (globalThis as { process?: { getBuiltinModule?(id: string): unknown } }).process?.getBuiltinModule?.(id) ?? null;
  } catch {
    return null;
  }
};
const nodeCrypto = builtin("node:crypto") as NodeCrypto | null;
const Buffer = (builtin("node:buffer") as { Buffer: BufferClass } | null)?.Buffer ?? null;

/** Whether seal() encrypts natively here (tests assert it does under Node and Deno). */
export const nativeSealing = nodeCrypto !== null && Buffer !== null;

const CHUNK = 64 * 1024;
// SubjectPublicKeyInfo of an X25519 key (RFC 8410) up to its 32 bytes.
const X25519_SPKI_PREFIX = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00];
const ZERO_NONCE = new Uint8Array(12);

/** HKDF-SHA-256 to 32 bytes, as age derives every key. */
function hkdf(c: NodeCrypto, ikm: Uint8Array, salt: Uint8Array, info: string): Uint8Array {
  return new Uint8Array(c.hkdfSync("sha256", ikm, salt, info, 32));
}

/** A STREAM chunk's nonce: the 11-byte big-endian chunk counter, then 1 on the last chunk. */
function streamNonce(i: number, last: boolean): Uint8Array {
  const n = new Uint8Array(12);
  new DataView(n.buffer).setUint32(7, i);
  if (last) n[11] = 1;
  return n;
}

/**
 * The binary age file of `plaintext` for these X25519 recipients (each its 32 raw bytes, in the
 * order given), or null where this runtime has no native crypto.
 */
export function sealNative(plaintext: Uint8Array, recipients: readonly Uint8Array[]): Uint8Array | null {
  if (!nodeCrypto || !Buffer) return null;
  const c = nodeCrypto;
  const b64 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length).toString("base64").replace(/=+$/, "");
  const aead = (key: Uint8Array, nonce: Uint8Array, data: Uint8Array) => {
    const cipher = c.createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 });
    return Buffer.concat([cipher.update(data), cipher.final(), cipher.getAuthTag()]);
  };

  const fileKey = c.randomBytes(16);
  let header = "age-encryption.org/v1\n";
  for (const recipient of recipients) {
    // The public half comes back encoded (one call, not a key object and an export).
    const ephemeral = c.generateKeyPairSync("x25519", { publicKeyEncoding: { format: "der", type: "spki" } }) as unknown as { publicKey: Uint8Array; privateKey: import("node:crypto").KeyObject };
    const share = ephemeral.publicKey.subarray(X25519_SPKI_PREFIX.length);
    const secret = c.diffieHellman({ privateKey: ephemeral.privateKey, publicKey: recipientKey(c, Buffer, recipient) });
    // A low-order recipient gives an all-zero secret, which age forbids (OpenSSL refuses it first).
    if (secret.every((b) => b === 0)) throw new Error("X25519 recipient gives an all-zero shared secret");
    const salt = Buffer.concat([share, recipient]);
    const wrapped = aead(hkdf(c, secret, salt, "age-encryption.org/v1/X25519"), ZERO_NONCE, fileKey);
    // A 32-byte body is one line of base64 (the format wraps at 48 bytes).
    header += `-> X25519 ${b64(share)}\n${b64(wrapped)}\n`;
  }
  header += "---";
  const mac = c.createHmac("sha256", hkdf(c, fileKey, new Uint8Array(0), "header")).update(header).digest();
  const nonce = c.randomBytes(16);
  const streamKey = hkdf(c, fileKey, nonce, "payload");
  const parts: Uint8Array[] = [Buffer.from(`${header} ${b64(mac)}\n`, "latin1"), nonce];
  // STREAM: 11-byte big-endian chunk counter, then 1 on the last chunk. An empty payload is one empty chunk.
  const chunks = Math.max(1, Math.ceil(plaintext.length / CHUNK));
  for (let i = 0; i < chunks; i++) {
    const n = streamNonce(i, i === chunks - 1);
    parts.push(aead(streamKey, n, plaintext.subarray(i * CHUNK, (i + 1) * CHUNK)));
  }
  const out = Buffer.concat(parts);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

// A recipient's key object, kept for the next file: a run seals every key file to the same one or two.
const recipientKeys = new Map<string, import("node:crypto").KeyObject>();

function recipientKey(c: NodeCrypto, buffer: BufferClass, raw: Uint8Array): import("node:crypto").KeyObject {
  const id = buffer.from(raw).toString("hex");
  let key = recipientKeys.get(id);
  if (!key) {
    if (recipientKeys.size >= 16) recipientKeys.clear();
    recipientKeys.set(id, (key = c.createPublicKey({ key: buffer.from([...X25519_SPKI_PREFIX, ...raw]), format: "der", type: "spki" })));
  }
  return key;
}

/**
 * The plaintext of a binary age file for an X25519 identity (`secret`: its 32 bytes, `recipient`:
 * its public key's), or null — where there is no native crypto, and for anything but the exact
 * layout seal writes (X25519 stanzas with one-line bodies, canonical base64) that opens with this
 * identity and passes every tag and the header MAC. null sends the caller to the library, which
 * opens what this does not know or says, in its own words, why the file cannot be opened: the
 * fast path never decides that a file is bad.
 */
export function openNative(file: Uint8Array, secret: Uint8Array, recipient: Uint8Array): Uint8Array | null {
  if (!nodeCrypto || !Buffer) return null;
  const c = nodeCrypto;
  const buf = Buffer.from(file.buffer, file.byteOffset, file.length);
  const unseal = (key: Uint8Array, nonce: Uint8Array, data: Uint8Array): Uint8Array | null => {
    if (data.length < 16) return null;
    try {
      const d = c.createDecipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 });
      d.setAuthTag(data.subarray(data.length - 16));
      return Buffer.concat([d.update(data.subarray(0, data.length - 16)), d.final()]);
    } catch {
      return null;
    }
  };
  // 32 bytes as unpadded base64 (43 characters), canonical: they encode back to the very text.
  const b32 = (text: string | undefined): Uint8Array | null => {
    if (text === undefined || !/^[A-Za-z0-9+/]{43}$/.test(text)) return null;
    const bytes = Buffer.from(text, "base64");
    return bytes.length === 32 && bytes.toString("base64").slice(0, 43) === text ? bytes : null;
  };

  const end = buf.indexOf("\n---", 0, "latin1");
  if (end < 0) return null;
  const headerEnd = buf.indexOf(0x0a, end + 4);
  if (headerEnd < 0) return null;
  const lines = buf.subarray(0, headerEnd).toString("latin1").split("\n");
  if (lines[0] !== "age-encryption.org/v1" || lines.length < 4 || lines.length % 2 !== 0) return null;
  let fileKey: Uint8Array | null = null;
  for (let i = 1; i < lines.length - 1; i += 2) {
    const [arrow, type, arg, extra] = lines[i]!.split(" ");
    const share = b32(arg);
    const body = b32(lines[i + 1]);
    if (arrow !== "->" || type !== "X25519" || extra !== undefined || !share || !body) return null;
    if (fileKey) continue;
    let shared: Uint8Array;
    try {
      shared = c.diffieHellman({ privateKey: identityKey(c, Buffer, secret), publicKey: c.createPublicKey({ key: Buffer.from([...X25519_SPKI_PREFIX, ...share]), format: "der", type: "spki" }) });
    } catch {
      return null;
    }
    if (shared.every((b) => b === 0)) return null;
    const key = unseal(hkdf(c, shared, Buffer.concat([share, recipient]), "age-encryption.org/v1/X25519"), ZERO_NONCE, body);
    if (key && key.length === 16) fileKey = key;
  }
  const last = lines.at(-1)!;
  const mac = last.startsWith("--- ") ? b32(last.slice(4)) : null;
  if (!fileKey || !mac) return null;
  const want = c.createHmac("sha256", hkdf(c, fileKey, new Uint8Array(0), "header")).update(buf.subarray(0, end + 4)).digest();
  if (!c.timingSafeEqual(want, mac)) return null;
  // The payload: a 16-byte nonce, then STREAM chunks of 64 KiB and their tags; only the last
  // flagged, and empty only when it is the only one.
  const nonce = buf.subarray(headerEnd + 1, headerEnd + 17);
  if (nonce.length !== 16) return null;
  const streamKey = hkdf(c, fileKey, nonce, "payload");
  const payload = buf.subarray(headerEnd + 17);
  const chunks = Math.max(1, Math.ceil(payload.length / (CHUNK + 16)));
  const out: Uint8Array[] = [];
  for (let i = 0; i < chunks; i++) {
    const n = streamNonce(i, i === chunks - 1);
    const plain = unseal(streamKey, n, payload.subarray(i * (CHUNK + 16), (i + 1) * (CHUNK + 16)));
    if (!plain || (plain.length === 0 && chunks > 1)) return null;
    out.push(plain);
  }
  const all = Buffer.concat(out);
  return new Uint8Array(all.buffer, all.byteOffset, all.length);
}

/** PKCS#8 PrivateKeyInfo of an X25519 key (RFC 8410) up to its 32 bytes. */
export const X25519_PKCS8_PREFIX = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20];
const identityKeys = new Map<string, import("node:crypto").KeyObject>();

function identityKey(c: NodeCrypto, buffer: BufferClass, raw: Uint8Array): import("node:crypto").KeyObject {
  const id = c.createHash("sha256").update(raw).digest("hex"); // the map holds no secret bytes as its key
  let key = identityKeys.get(id);
  if (!key) {
    if (identityKeys.size >= 16) identityKeys.clear();
    identityKeys.set(id, (key = c.createPrivateKey({ key: buffer.from([...X25519_PKCS8_PREFIX, ...raw]), format: "der", type: "pkcs8" })));
  }
  return key;
}

/**
 * The X25519 public key (32 bytes) of a secret scalar, as age derives an identity's recipient;
 * null where this runtime has no node:crypto (the caller asks the library).
 */
export function x25519PublicKey(secret: Uint8Array): Uint8Array | null {
  const c = nodeCrypto;
  if (!c || !Buffer) return null;
  const spki = c.createPublicKey(identityKey(c, Buffer, secret)).export({ format: "der", type: "spki" });
  return new Uint8Array(spki.subarray(X25519_SPKI_PREFIX.length));
}

/**
 * The 32 bytes of a bech32 key whose human-readable part is `hrp` (with its "1": "age1",
 * "AGE-SECRET-KEY-1"), by @scure/base, the bech32 age itself uses; throws for anything else.
 */
export function bech32Data(text: string, hrp: string): Uint8Array {
  const { prefix, bytes } = bech32.decodeToBytes(text);
  if (`${prefix}1`.toLowerCase() !== hrp.toLowerCase() || bytes.length !== 32) throw new Error("not this kind of key");
  return bytes;
}
