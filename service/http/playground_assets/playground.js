// The playground: create a transaction, show its link, poll it, and check the verdict's signature.
// Every value from the service is shown with textContent or assigned to a checked attribute: never as HTML.
"use strict";

(() => {
  const POLL_MS = 1000;
  const STEPS = ["created", "request_retrieved", "response_received"];
  // What `python -m service verdict verify` accepts, as WebCrypto parameters.
  const VERDICT_ALGS = {
    ES256: { kty: "EC", crv: "P-256", key: { name: "ECDSA", namedCurve: "P-256" }, sig: { name: "ECDSA", hash: "SHA-256" } },
    ES384: { kty: "EC", crv: "P-384", key: { name: "ECDSA", namedCurve: "P-384" }, sig: { name: "ECDSA", hash: "SHA-384" } },
    EdDSA: { kty: "OKP", crv: "Ed25519", key: { name: "Ed25519" }, sig: { name: "Ed25519" } },
  };
  const $ = (id) => document.getElementById(id);
  let timer = null;
  let current = null;

  function setText(id, text) {
    $(id).textContent = text;
  }

  function headers(json) {
    const result = { accept: "application/json" };
    if (json) result["content-type"] = "application/json";
    const key = $("api-key").value.trim();
    if (key) result.authorization = "Bearer " + key;
    return result;
  }

  async function api(path, options = {}) {
    const response = await fetch(path, { cache: "no-store", credentials: "same-origin", ...options });
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    return { status: response.status, ok: response.ok, body };
  }

  function problem(answer) {
    const body = answer.body || {};
    const code = body.code ? ` ${body.code}` : "";
    const detail = body.detail || body.title || "";
    return `HTTP ${answer.status}${code}${detail ? ": " + detail : ""}`;
  }

  function clock(seconds) {
    return new Date(seconds * 1000).toLocaleTimeString();
  }

  // --- 1. definitions and creation --- //

  async function loadDefinitions() {
    let answer;
    try {
      answer = await api("/v1/definitions", { headers: headers(false) });
    } catch (error) {
      answer = { status: 0, ok: false, body: { detail: error.message } };
    }
    if (!answer.ok || !Array.isArray(answer.body)) {
      setText("status-line", "Cannot list the definitions: " + problem(answer));
      return;
    }
    const select = $("definition");
    select.replaceChildren();
    for (const definition of answer.body) {
      const option = document.createElement("option");
      option.value = definition.id;
      option.textContent = definition.name ? `${definition.id} (${definition.name})` : definition.id;
      option.selected = definition.id === "age-over-18";
      select.append(option);
    }
    $("create").disabled = answer.body.length === 0;
    setText("status-line", answer.body.length ? "" : "No definitions are loaded.");
  }

  async function create() {
    stopPolling();
    $("create").disabled = true;
    setText("status-line", "Creating…");
    const body = { definition_id: $("definition").value, qr: "svg", correlation_id: "playground" };
    const webhook = document.querySelector('meta[name="playground-webhook"]').content;
    if (webhook) body.webhook_url = webhook;
    try {
      const answer = await api("/v1/presentations", {
        method: "POST",
        headers: headers(true),
        body: JSON.stringify(body),
      });
      if (answer.status !== 201) {
        setText("status-line", "The service refused: " + problem(answer));
        return;
      }
      setText("status-line", "");
      showTransaction(answer.body);
      current = answer.body.transaction_id;
      poll(current);
    } catch (error) {
      setText("status-line", "Cannot reach the service: " + error.message);
    } finally {
      $("create").disabled = false;
    }
  }

  // --- 2. the link --- //

  function showTransaction(created) {
    $("verdict").hidden = true;
    setText("transaction-id", created.transaction_id);
    setText("expires-at", created.expires_at);
    const link = String(created.authorization_request_uri);
    const qr = String(created.qr_code || "");
    const image = $("qr");
    if (qr.startsWith("data:image/svg+xml")) image.src = qr;
    else image.removeAttribute("src");
    const anchor = $("deep-link-anchor");
    if (link.startsWith("openid4vp://")) anchor.href = link;
    else anchor.removeAttribute("href");
    setText("deep-link", link);
    const quoted = "'" + link.replaceAll("'", "'\\''") + "'"; // one shell word, whatever the link holds
    setText("demo-command", `.venv/bin/python -m service demo --link ${quoted}`);
    for (const step of [...STEPS, "verdict"]) {
      $("step-" + step).classList.remove("done");
      $("step-" + step).querySelector(".at").textContent = "";
    }
    setText("watch-note", "Waiting for the wallet…");
    $("transaction").hidden = false;
  }

  // --- 3. following the transaction --- //

  function stopPolling() {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    current = null;
  }

  async function poll(transactionId) {
    let answer;
    try {
      answer = await api(`/v1/presentations/${encodeURIComponent(transactionId)}`, { headers: headers(false) });
    } catch (error) {
      answer = { status: 0, ok: false, body: { detail: error.message } };
    }
    if (transactionId !== current) return; // a newer transaction replaced this one
    if (answer.status === 501) {
      setText("watch-note", "This service keeps no transaction record (a store, or the playground feed " +
        "with VERIFIER_STATUS_RETENTION above 0, is needed to follow a transaction); the verdict still " +
        "goes to the webhook.");
      return;
    }
    if (!answer.ok) {
      setText("watch-note", "Cannot read the transaction: " + problem(answer));
      timer = setTimeout(() => poll(transactionId), POLL_MS * 3);
      return;
    }
    showEvents(answer.body.events || []);
    const state = answer.body.state;
    if (state === "pending") {
      timer = setTimeout(() => poll(transactionId), POLL_MS);
      return;
    }
    if (state === "expired") {
      setText("watch-note", "The transaction expired without an answer.");
      return;
    }
    setText("watch-note", "");
    const step = $("step-verdict");
    step.classList.add("done");
    if (answer.body.decided_at) step.querySelector(".at").textContent = clock(answer.body.decided_at);
    await showVerdict(String(answer.body.verdict || ""));
  }

  function showEvents(events) {
    for (const event of events) {
      if (!STEPS.includes(event.event)) continue;
      const step = $("step-" + event.event);
      if (step.classList.contains("done")) continue;
      step.classList.add("done");
      step.querySelector(".at").textContent = clock(event.at);
    }
  }

  // --- 4. the verdict, decoded and checked --- //

  function base64urlBytes(text) {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4);
    return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  }

  function base64urlJson(text) {
    return JSON.parse(new TextDecoder().decode(base64urlBytes(text)));
  }

  // "signature valid" only when WebCrypto said so; otherwise why not ("NOT valid") or why it could not check.
  const invalid = (reason) => ({ text: "signature NOT valid: " + reason, ok: false });
  const unchecked = (reason) => ({ text: "signature not checked: " + reason, ok: false });

  async function checkSignature(token, header) {
    if (header.typ !== "verdict+jwt") return invalid(`typ is ${JSON.stringify(header.typ)}, not "verdict+jwt"`);
    const alg = Object.hasOwn(VERDICT_ALGS, header.alg) ? VERDICT_ALGS[header.alg] : null;
    if (alg === null) return invalid(`alg ${JSON.stringify(header.alg)} is not one a verdict may use`);
    if (!window.crypto || !window.crypto.subtle) {
      return unchecked("WebCrypto needs a secure context (open the page on localhost or over https)");
    }
    const jwks = await api("/.well-known/jwks.json");
    const keys = jwks.ok && jwks.body && Array.isArray(jwks.body.keys) ? jwks.body.keys : [];
    const matches = keys.filter((key) => header.kid && key.kid === header.kid);
    if (matches.length !== 1) return invalid(`kid ${JSON.stringify(header.kid)} matches ${matches.length} keys`);
    const jwk = matches[0];
    if ((jwk.alg || header.alg) !== header.alg || (jwk.use || "sig") !== "sig") {
      return invalid("the published key is not for this algorithm");
    }
    if (jwk.kty !== alg.kty || jwk.crv !== alg.crv) return invalid("the published key does not fit the algorithm");
    const members = alg.kty === "EC" ? { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y } : { kty: jwk.kty, crv: jwk.crv, x: jwk.x };
    try {
      const key = await crypto.subtle.importKey("jwk", members, alg.key, false, ["verify"]);
      const [head, payload, signature] = token.split(".");
      const data = new TextEncoder().encode(`${head}.${payload}`);
      const valid = await crypto.subtle.verify(alg.sig, key, base64urlBytes(signature), data);
      return valid ? { text: "signature valid", ok: true } : invalid("it does not verify with the published key");
    } catch (error) {
      return unchecked(error && error.message ? error.message : String(error));
    }
  }

  async function showVerdict(token) {
    $("verdict").hidden = false;
    const parts = token.split(".");
    let header;
    let claims;
    try {
      if (parts.length !== 3) throw new Error("not a compact JWS");
      header = base64urlJson(parts[0]);
      claims = base64urlJson(parts[1]);
    } catch (error) {
      setText("verdict-result", "unreadable");
      setText("signature", "the verdict is not a JWT: " + error.message);
      setText("verdict-claims", "");
      return;
    }
    const result = $("verdict-result");
    result.textContent = String(claims.result);
    result.className = claims.result === "verified" ? "good" : "bad";
    setText("verdict-claims", JSON.stringify(claims, null, 2));
    const signature = $("signature");
    signature.textContent = "checking the signature…";
    let check;
    try {
      check = await checkSignature(token, header);
    } catch (error) {
      check = unchecked(error && error.message ? error.message : String(error));
    }
    signature.textContent = check.text;
    signature.className = check.ok ? "good" : "bad";
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("create").addEventListener("click", create);
    $("api-key").addEventListener("change", loadDefinitions);
    loadDefinitions();
  });
})();
