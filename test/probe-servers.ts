// Real TLS servers on 127.0.0.1 for the probe tests and the probe benchmark: node:tls (partial-
// chain trust through SNICallback, LIBRARY-NOTES) and OpenSSL's s_server, each requiring a client
// certificate that chains to the bundle it was loaded with; plus peers that are not TLS at all.
import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import tls from "node:tls";
import type { AddressInfo } from "node:net";

export interface ServerFiles {
  /** leaf + issuing intermediate */
  readonly cert: string;
  readonly key: string;
  /** the bundle it trusts for client certificates */
  readonly ca: string;
}

export interface Running<F = ServerFiles> {
  readonly port: number;
  /** Load new files, as a service does when its Secret changes. */
  reload(f: F): Promise<void>;
  close(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** node:tls, requestCert + rejectUnauthorized: refuses a client certificate its bundle does not anchor. */
export async function nodeServer(f: ServerFiles): Promise<Running> {
  const make = (x: ServerFiles) => tls.createSecureContext({ key: x.key, cert: x.cert, ca: x.ca, allowPartialTrustChain: true } as tls.SecureContextOptions);
  let ctx = make(f);
  const sockets = new Set<net.Socket>();
  const srv = tls.createServer({ SNICallback: (_n, cb) => cb(null, ctx), requestCert: true, rejectUnauthorized: true, key: f.key, cert: f.cert }, (sock) => {
    sock.on("error", () => {});
    sock.write("ok\n");
  });
  srv.on("connection", (s: net.Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  srv.on("tlsClientError", () => {});
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  return {
    port: (srv.address() as AddressInfo).port,
    reload: async (x) => {
      ctx = make(x);
    },
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => srv.close(() => r()));
    },
  };
}

/** OpenSSL s_server (-Verify 1 -verify_return_error -partial_chain); reload restarts it on the same port. */
/** Paths (s_server reads files): leaf, its intermediate, key, the bundle it trusts. */
export interface OpensslFiles {
  readonly cert: string;
  readonly chain: string;
  readonly key: string;
  readonly ca: string;
}

export async function opensslServer(files: OpensslFiles, port?: number): Promise<Running<OpensslFiles>> {
  const p = port ?? (await freePort());
  let child: ChildProcess | null = null;
  const start = async (x: OpensslFiles) => {
    for (let attempt = 0; attempt < 20; attempt++) {
      const c = spawn("openssl", ["s_server", "-accept", `127.0.0.1:${p}`, "-rev", "-cert", x.cert, "-cert_chain", x.chain, "-key", x.key, "-CAfile", x.ca, "-partial_chain", "-Verify", "1", "-verify_return_error"], { stdio: ["pipe", "pipe", "pipe"] });
      let log = "";
      const up = await new Promise<boolean>((resolve) => {
        const on = (b: Buffer) => {
          log += b;
          if (/ACCEPT/.test(log)) resolve(true);
        };
        c.stdout!.on("data", on);
        c.stderr!.on("data", on);
        c.on("exit", () => resolve(false));
        setTimeout(() => resolve(/ACCEPT/.test(log)), 5000);
      });
      if (up) {
        child = c;
        return;
      }
      c.kill("SIGKILL");
      await new Promise((r) => setTimeout(r, 100)); // the port is still in TIME_WAIT after a restart
    }
    throw new Error(`openssl s_server did not start on port ${p}`);
  };
  const stop = async () => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((r) => {
      c.on("exit", () => r());
      c.kill("SIGKILL");
    });
  };
  await start(files);
  return {
    port: p,
    reload: async (x) => {
      await stop();
      await start(x);
    },
    close: stop,
  };
}

/** A peer that answers like a plain HTTP server (not TLS), or one that accepts and says nothing. */
export async function plainServer(kind: "http" | "silent"): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    sockets.add(s);
    s.on("error", () => {});
    s.on("close", () => sockets.delete(s));
    if (kind === "http") s.end("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  return {
    port: (srv.address() as AddressInfo).port,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => srv.close(() => r()));
    },
  };
}
