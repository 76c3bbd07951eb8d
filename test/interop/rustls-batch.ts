// rustls (Deno's TLS) as a verifier for the interop matrix, one process for many checks:
//   deno run --allow-net=127.0.0.1 --allow-read=JOBS test/interop/rustls-batch.ts JOBS
// JOBS is a JSON array of { chain, key, anchors, hostname } (PEM text). For each job a Deno TLS
// server on 127.0.0.1 presents `chain` (leaf + intermediate) with `key`, and a Deno client that
// trusts exactly `anchors` completes a real handshake, checking the server against `hostname`.
// Prints one JSON array of { ok, error? } in job order.
declare const Deno: {
  args: string[];
  readTextFileSync(path: string): string;
  listenTls(o: { hostname: string; port: number; cert: string; key: string }): {
    addr: { port: number };
    accept(): Promise<{ handshake(): Promise<unknown>; close(): void }>;
    close(): void;
  };
  connect(o: { hostname: string; port: number }): Promise<{ close(): void }>;
  startTls(conn: unknown, o: { hostname: string; caCerts: string[] }): Promise<{ handshake(): Promise<unknown>; close(): void }>;
};

interface Job {
  readonly chain: string;
  readonly key: string;
  readonly anchors: string;
  readonly hostname: string;
}

const jobs = JSON.parse(Deno.readTextFileSync(Deno.args[0]!)) as Job[];
const certs = (pem: string) => pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
const within = <T>(ms: number, p: Promise<T>) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error("timeout")), ms))]);

const out: { ok: boolean; error?: string }[] = [];
for (const j of jobs) {
  const listener = Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert: j.chain, key: j.key });
  const served = listener.accept().then(async (c) => {
    await c.handshake().catch(() => {}); // the client's refusals are expected
    c.close();
  });
  try {
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    const tls = await Deno.startTls(tcp, { hostname: j.hostname, caCerts: certs(j.anchors) });
    try {
      await within(5000, tls.handshake());
      out.push({ ok: true });
    } finally {
      tls.close();
    }
  } catch (e) {
    out.push({ ok: false, error: String((e as Error).message ?? e) });
  } finally {
    await within(5000, served).catch(() => {});
    listener.close();
  }
}
console.log(JSON.stringify(out));
