import tls from "node:tls";
import type { ProbeOutcome } from "../model/probes.ts";

// One TLS connection to one endpoint, with node:tls (OpenSSL). The platform side of `pki probe`:
// everything that can go wrong on the network comes back as a result, never as a throw.

export interface ConnectOptions {
  readonly host: string;
  readonly port: number;
  /** The SNI to send; absent for an IP address without one (RFC 6066 §3 forbids IP literals). */
  readonly servername?: string;
  /** The bundle the served chain is verified against (the region bundle; partial-chain trust). */
  readonly ca: string;
  readonly timeoutMs: number;
  /** A client certificate chain (leaf first) and its PKCS#8 key, for endpoints that ask for one. */
  readonly client?: { readonly cert: string; readonly key: string };
  /**
   * After the handshake, how long the connection must stay open for the client certificate to
   * count as accepted. A server refuses a client certificate either with an alert (OpenSSL, Envoy)
   * or by closing right after the handshake (node:tls checks it only once the handshake is done),
   * and in TLS 1.3 both arrive after the client's handshake has completed (RFC 8446 §4.4.2).
   */
  readonly settleMs?: number;
  /** Judge the client certificate (wait `settleMs`); false: report the handshake as soon as it completes. */
  readonly judgeClient?: boolean;
}

export interface Connected {
  readonly outcome: "tls";
  /** The leaf the endpoint served, PEM. */
  readonly leaf: string;
  readonly authorized: boolean;
  readonly authorizationError?: string;
  /** Why the leaf does not carry `servername` (RFC 6125), if it does not. */
  readonly nameError?: string;
  readonly protocol: string | null;
  /** With `client`: whether the endpoint kept the connection (accepted the client certificate). */
  readonly client?: { readonly accepted: boolean; readonly detail: string };
}
export interface Failed {
  readonly outcome: Exclude<ProbeOutcome, "tls" | "skipped">;
  readonly error: string;
}
export type ConnectResult = Connected | Failed;

/** Classify a connection error: a closed port, a host not reached, a peer that does not speak TLS. */
export function classify(e: unknown): Failed {
  const x = e as NodeJS.ErrnoException & { reason?: string };
  const code = x?.code ?? "";
  const message = String(x?.message ?? e);
  if (code === "ECONNREFUSED") return { outcome: "refused", error: "connection refused" };
  if (["EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN", "EADDRNOTAVAIL", "ENETDOWN"].includes(code)) return { outcome: "unreachable", error: `${code.toLowerCase()}: ${message}` };
  if (code === "ERR_SSL_WRONG_VERSION_NUMBER" || /wrong version number|packet length too long|unknown protocol|http request/i.test(message)) {
    return { outcome: "not-tls", error: "the peer does not speak TLS (its first bytes are not a TLS record)" };
  }
  return { outcome: "tls-error", error: alertText(e) };
}

/** Connect, handshake, and report what was served (and, with a client certificate, whether it was kept). */
export function connect(o: ConnectOptions): Promise<ConnectResult> {
  const settle = o.settleMs ?? 400;
  const judge = !!o.client && o.judgeClient !== false;
  return new Promise((resolve) => {
    let done = false;
    let handshake: Omit<Connected, "client"> | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const began = performance.now();
    const finish = (r: ConnectResult) => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      clearTimeout(deadline);
      socket.destroy();
      resolve(r);
    };
    // rejectUnauthorized false: a chain that does not verify is a finding to report, not a reason
    // to stop looking; `authorized` carries OpenSSL's verdict against the bundle given.
    const socket = tls.connect({
      host: o.host, port: o.port, ...(o.servername ? { servername: o.servername } : {}), ca: o.ca, rejectUnauthorized: false,
      allowPartialTrustChain: true, ...(o.client ? { cert: o.client.cert, key: o.client.key } : {}),
    } as tls.ConnectionOptions);
    const deadline = setTimeout(() => finish(handshake && judge ? { ...handshake, client: { accepted: true, detail: "kept the connection open until the time limit" } } : { outcome: "timeout", error: `no TLS handshake within ${o.timeoutMs} ms` }), o.timeoutMs);
    socket.once("secureConnect", () => {
      const leaf = socket.getPeerX509Certificate();
      if (!leaf) return finish({ outcome: "tls-error", error: "the endpoint completed a handshake without a certificate" });
      // RFC 6125 host name check on the leaf's DNS names (OpenSSL X509_check_host; no subject CN fallback).
      const nameError = o.servername && leaf.checkHost(o.servername, { subject: "never" }) === undefined ? `the leaf does not carry the name ${o.servername}` : undefined;
      handshake = {
        outcome: "tls", leaf: leaf.toString(), authorized: socket.authorized, protocol: socket.getProtocol(),
        ...(socket.authorizationError ? { authorizationError: String(socket.authorizationError) } : {}),
        ...(nameError ? { nameError } : {}),
      };
      if (!judge) return finish(handshake);
      // A busy server takes longer to check the certificate and hang up, as it took longer to
      // answer the handshake: wait at least three handshakes' time. Measured: with a fixed 400 ms,
      // 200 endpoints probed 64 at once on 2 cores judged 2 refusing node:tls servers "accepted".
      const wait = Math.max(settle, 3 * (performance.now() - began));
      timer = setTimeout(() => finish({ ...handshake!, client: { accepted: true, detail: `kept the connection open ${Math.round(wait)} ms after the handshake` } }), wait);
    });
    socket.on("data", () => {
      if (handshake && judge) finish({ ...handshake, client: { accepted: true, detail: "answered after the handshake" } });
    });
    const closed = (why: string) => {
      if (handshake && judge) finish({ ...handshake, client: { accepted: false, detail: why } });
      else if (!handshake) finish({ outcome: "tls-error", error: "the peer closed the connection before the TLS handshake completed" });
    };
    socket.on("end", () => closed("closed the connection right after the handshake"));
    socket.on("close", () => closed("closed the connection right after the handshake"));
    socket.on("error", (e: Error) => {
      if (handshake && judge) return closed(alertText(e));
      if (handshake) return;
      finish(classify(e));
    });
  });
}

/** "sent the alert unknown ca", from OpenSSL's "…:tlsv1 alert unknown ca:…" (RFC 8446 §6.2). */
export function alertText(e: unknown): string {
  const m = String((e as Error)?.message ?? e);
  const a = /(?:tlsv1[0-9]*|sslv3|tlsv13) alert ([a-z ]+)/i.exec(m);
  return a ? `sent the alert "${a[1]!.trim()}"` : m.replace(/\s+/g, " ").slice(0, 160);
}
