// A real mTLS handshake with node:tls, each side trusting only the bundle it is given.
// Partial-chain trust (an intermediate as anchor) needs allowPartialTrustChain; tls.createServer
// does not pass it into its own context, so the server's context goes through SNICallback.
import tls from "node:tls";
import type { AddressInfo } from "node:net";

export interface Side {
  readonly cert: string; // leaf + issuing intermediate
  readonly key: string;
  readonly ca: string; // the bundle this side trusts
}

export interface Handshake {
  readonly ok: boolean;
  readonly error?: string;
  readonly peerUri?: string; // the client's SPIFFE URI as the server saw it
}

export async function mtls(server: Side, client: Side, servername: string): Promise<Handshake> {
  const ctx = tls.createSecureContext({ key: server.key, cert: server.cert, ca: server.ca, allowPartialTrustChain: true } as tls.SecureContextOptions);
  let peerUri: string | undefined;
  let serverError: string | undefined;
  const srv = tls.createServer({ SNICallback: (_n, cb) => cb(null, ctx), requestCert: true, rejectUnauthorized: true, key: server.key, cert: server.cert }, (sock) => {
    peerUri = /URI:([^,\s]+)/.exec(sock.getPeerCertificate().subjectaltname ?? "")?.[1];
    sock.end("hello");
  });
  srv.on("tlsClientError", (e) => (serverError = e.message));
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as AddressInfo).port;
  try {
    return await new Promise<Handshake>((resolve) => {
      const c = tls.connect({ host: "127.0.0.1", port, servername, cert: client.cert, key: client.key, ca: client.ca, allowPartialTrustChain: true } as tls.ConnectionOptions);
      let data = "";
      c.on("data", (d) => (data += d));
      c.on("end", () => resolve(data === "hello" ? { ok: true, ...(peerUri ? { peerUri } : {}) } : { ok: false, error: serverError ?? "server closed without answering" }));
      c.on("error", (e) => resolve({ ok: false, error: serverError ? `${serverError} / ${e.message}` : e.message }));
      c.setTimeout(5000, () => {
        c.destroy();
        resolve({ ok: false, error: "timeout" });
      });
    });
  } finally {
    srv.close();
  }
}
