// rustls (Deno) as an mTLS client, for test/interop-mtls.test.ts:
//   deno run --allow-net=127.0.0.1 --allow-read=… test/interop/rustls-mtls-client.ts PORT BUNDLE CERT KEY
// Trusts exactly the certificates of BUNDLE (partial chain: intermediates as anchors), presents
// CERT (leaf + intermediate) with KEY, sends "ping\n" and prints one JSON line: {"ok":true,"reply":…}
// or {"ok":false,"error":…}. Connecting by IP, the server's name is not checked (Deno can verify a
// name only as the address it connects to); the chain is — that is the fence this test is about.
declare const Deno: {
  args: string[];
  readTextFileSync(path: string): string;
  connectTls(o: { hostname: string; port: number; caCerts: string[]; cert: string; key: string; unsafelyDisableHostnameVerification: boolean }): Promise<{
    handshake(): Promise<unknown>;
    write(b: Uint8Array): Promise<number>;
    read(b: Uint8Array): Promise<number | null>;
    close(): void;
  }>;
};

const [port, bundle, cert, key] = Deno.args;
const caCerts = Deno.readTextFileSync(bundle!).match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
let timer: ReturnType<typeof setTimeout> | undefined;
const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error("timeout")), 5000)));
timeout.catch(() => {}); // raced below; never left unhandled
try {
  const conn = await Deno.connectTls({
    hostname: "127.0.0.1", port: Number(port), caCerts, cert: Deno.readTextFileSync(cert!), key: Deno.readTextFileSync(key!),
    unsafelyDisableHostnameVerification: true,
  });
  try {
    await Promise.race([conn.handshake(), timeout]);
    await conn.write(new TextEncoder().encode("ping\n"));
    const buf = new Uint8Array(64);
    const n = await Promise.race([conn.read(buf), timeout]);
    const reply = new TextDecoder().decode(buf.subarray(0, n ?? 0)).trim();
    console.log(JSON.stringify(reply ? { ok: true, reply } : { ok: false, error: "the server closed without answering" }));
  } finally {
    conn.close();
  }
} catch (e) {
  console.log(JSON.stringify({ ok: false, error: String((e as Error).message ?? e) }));
} finally {
  clearTimeout(timer);
}

