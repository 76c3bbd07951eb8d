// Deno's own TLS client (rustls), used by test/deno-tls.test.ts as a second, strict verifier:
//   deno run --allow-net=127.0.0.1:PORT --allow-read=BUNDLE test/deno/tls-client.ts PORT SERVERNAME BUNDLE
// It trusts exactly the certificates in BUNDLE (a region bundle: intermediates as anchors),
// completes a handshake with the server at 127.0.0.1:PORT for SERVERNAME, reads its greeting
// and prints one JSON line: {"ok":true,"greeting":"…"} or {"ok":false,"error":"…"}.
declare const Deno: {
  args: string[];
  readTextFileSync(path: string): string;
  connect(o: { hostname: string; port: number }): Promise<{ close(): void }>;
  startTls(conn: unknown, o: { hostname: string; caCerts: string[] }): Promise<{ handshake(): Promise<unknown>; read(b: Uint8Array): Promise<number | null>; close(): void }>;
};

const [port, servername, bundle] = Deno.args;
const caCerts = Deno.readTextFileSync(bundle!).match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
try {
  const tcp = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
  const tls = await Deno.startTls(tcp, { hostname: servername!, caCerts });
  try {
    await tls.handshake();
    const buf = new Uint8Array(64);
    const n = await tls.read(buf);
    console.log(JSON.stringify({ ok: true, anchors: caCerts.length, greeting: new TextDecoder().decode(buf.subarray(0, n ?? 0)) }));
  } finally {
    tls.close();
  }
} catch (e) {
  console.log(JSON.stringify({ ok: false, anchors: caCerts.length, error: String((e as Error).message ?? e) }));
}
