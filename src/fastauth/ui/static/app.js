// The sign-in page of `fastauth serve`: a browser app of the auth API, with nothing hidden.
//
// - register/login/refresh send `X-Fastauth-Delivery: cookie`: the tokens come back as HTTP-only
//   cookies (this script never sees them), plus a readable `csrf_token` cookie;
// - every unsafe request echoes that cookie in `X-CSRF-Token`;
// - an authenticated request that gets 401 triggers one refresh (shared by concurrent callers) and
//   one retry; when the refresh fails too, the session is over and the page says so.
//
// The same script runs the two pages the account mails link to (`data-page` on <body> says which).
// Opening such a link spends nothing: the code in its `token` parameter is read once, removed from the
// address bar and the history entry (`history.replaceState`), kept in a variable only, and sent in the
// body of the POST that the page's button makes.
//
// Sign-in providers (when the server has any): "Continue with ..." is a plain link to
// `/oauth/{name}/authorize?delivery=cookie`, pointed back at this page; the callback sets the same
// cookies as a password login and returns here with `?signed_in_with=`. Linking POSTs
// `/oauth/{name}/link` and follows the `{url}` it answers; the return carries `?linked=`. Such marks
// leave the address bar at once, like the mails' codes.
//
// An account without a password (made by a provider sign-in; `has_password: false` in /me) changes its
// email and deletes itself without typing one: the server wants a recent sign-in instead, and answers
// an older one with 401 and `WWW-Authenticate: Bearer error="insufficient_user_authentication"` (RFC
// 9470). That 401 is no expired token (no refresh, no retry): the page asks the person to sign in again.
//
// Two-step verification (TOTP): see its section below; the second step of a sign-in is a view of its
// own (`view-mfa`), the settings a card of the account view.
"use strict";

(() => {
  const PAGE = document.body.dataset.page;
  const API = document.body.dataset.api;
  const CSRF_COOKIE = document.body.dataset.csrfCookie;
  const $ = (id) => document.getElementById(id);

  class NetworkError extends Error {}
  class SessionEnded extends Error {}
  class HttpError extends Error {
    constructor(message, status) {
      super(message);
      this.status = status;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // talking to the API

  function readCookie(name) {
    for (const part of document.cookie.split(";")) {
      const eq = part.indexOf("=");
      if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
    }
    return null;
  }

  async function send(method, path, { json, cookies = false } = {}) {
    const headers = { Accept: "application/json" };
    if (json !== undefined) headers["Content-Type"] = "application/json";
    if (cookies) headers["X-Fastauth-Delivery"] = "cookie";
    if (method !== "GET" && method !== "HEAD") {
      const csrf = readCookie(CSRF_COOKIE);
      if (csrf) headers["X-CSRF-Token"] = csrf;
    }
    try {
      return await fetch(API + path, {
        method,
        headers,
        body: json === undefined ? undefined : JSON.stringify(json),
        credentials: "same-origin",
        cache: "no-store",
      });
    } catch {
      throw new NetworkError("network");
    }
  }

  let refreshing = null;

  /** One refresh at a time; true when new cookies arrived. */
  function refresh() {
    if (refreshing === null) {
      refreshing = send("POST", "/refresh", { cookies: true })
        .then((response) => response.ok)
        .finally(() => {
          refreshing = null;
        });
    }
    return refreshing;
  }

  /** A 401 that asks for a more recent sign-in (RFC 9470), not for a new access token. */
  function wantsRecentSignIn(response) {
    return (
      response.status === 401 &&
      /insufficient_user_authentication/.test(response.headers.get("WWW-Authenticate") || "")
    );
  }

  /** A request as the signed-in user: on 401, one silent refresh and one retry. */
  async function authed(method, path, options) {
    let response = await send(method, path, options);
    if (wantsRecentSignIn(response)) return response; // a refresh would not make the sign-in newer
    if (response.status === 401) {
      if (!(await refresh())) throw new SessionEnded("session ended");
      response = await send(method, path, options);
      if (response.status === 401) throw new SessionEnded("session ended");
    }
    return response;
  }

  async function detailOf(response) {
    try {
      const data = await response.json();
      if (typeof data.detail === "string") return data.detail;
    } catch {
      // not JSON: no detail
    }
    return "";
  }

  function seconds(value) {
    const n = Number.parseInt(value || "", 10);
    if (!Number.isFinite(n) || n <= 0) return "a moment";
    if (n >= 120) return `${Math.ceil(n / 60)} minutes`;
    return n === 1 ? "1 second" : `${n} seconds`;
  }

  /** Words for a failed response. `action`: "login", "register", "reset", "forgot", "resend" or other. */
  async function explain(response, action) {
    const detail = await detailOf(response);
    switch (response.status) {
      case 400:
        if (detail === "The current password is wrong") return "The current password is wrong. Nothing changed.";
        return detail || "The server refused the request (400).";
      case 401:
        if (action === "login") return "Wrong email or password. Check both and try again.";
        return "You are not signed in.";
      case 403:
        if (/csrf/i.test(detail)) {
          return "The security check failed (CSRF token missing or wrong). Reload the page and try again.";
        }
        return action === "login" || action === "register"
          ? "Signing in is not allowed for this account."
          : "You are not allowed to do that.";
      case 404:
        return "That session had already ended.";
      case 409:
        return "An account with this email already exists. Sign in instead.";
      case 413:
        return "That is too long.";
      case 422: {
        const reason = detail.replace(/\.$/, "");
        if (action === "register") return `The account was not created: ${reason}.`;
        if (action === "reset") return `The password was not changed: ${reason}.`;
        return `Not accepted: ${reason}.`;
      }
      case 429:
        return `Too many attempts. Wait ${seconds(response.headers.get("Retry-After"))} before trying again.`;
      case 501:
        if (action === "forgot") return "This server sends no mail, so a password cannot be reset here.";
        if (action === "resend") return "This server sends no mail, so the address cannot be verified here.";
        return "This server sends no mail.";
      default:
        if (response.status >= 500) {
          return `The server could not answer (error ${response.status}). Try again in a moment.`;
        }
        return detail || `Unexpected answer from the server (${response.status}).`;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // the page

  const views = Array.from(document.querySelectorAll("main > .view"), (section) => section.id);
  const message = $("message");

  function say(text, kind = "info") {
    message.setAttribute("aria-live", kind === "error" ? "assertive" : "polite");
    message.dataset.kind = kind;
    message.textContent = text;
  }

  function clearMessage() {
    message.textContent = "";
    delete message.dataset.kind;
  }

  function show(view, focusId) {
    for (const id of views) $(id).hidden = id !== view;
    document.body.dataset.state = view.replace("view-", "");
    if (focusId) $(focusId).focus();
  }

  function signedOut(text, kind = "info", focusId = "signed-out-title") {
    forgetMfaSecrets();
    show("view-signed-out", focusId);
    if (text) say(text, kind);
  }

  const SESSION_ENDED =
    "You have been signed out: this session was revoked on another device, or it expired. Sign in again.";
  const NETWORK_DOWN = "Cannot reach the server. Check your connection and try again.";

  /** The one place where failures turn into words. */
  function report(error) {
    if (error instanceof SessionEnded) signedOut(SESSION_ENDED, "error");
    else if (error instanceof NetworkError) say(NETWORK_DOWN, "error");
    else if (error instanceof HttpError) say(error.message, "error");
    else {
      say("Something went wrong in this page. Reload it and try again.", "error");
      console.error(error);
    }
  }

  /** Run `work` with `button` disabled (no double submits), reporting failures. */
  async function busy(button, work) {
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    try {
      await work();
    } catch (error) {
      report(error);
    } finally {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  }

  const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  const relative = new Intl.RelativeTimeFormat("en", { numeric: "auto" });

  function ago(iso) {
    const diff = (Date.parse(iso) - Date.now()) / 1000;
    const abs = Math.abs(diff);
    if (abs < 45) return "just now";
    if (abs < 3600) return relative.format(Math.round(diff / 60), "minute");
    if (abs < 86400) return relative.format(Math.round(diff / 3600), "hour");
    return relative.format(Math.round(diff / 86400), "day");
  }

  function timeElement(iso, text) {
    const time = document.createElement("time");
    time.dateTime = iso;
    time.title = dateFormat.format(new Date(iso));
    time.textContent = text;
    return time;
  }

  const BROWSERS = [
    [/Edg\//, "Edge"],
    [/OPR\//, "Opera"],
    [/Firefox\//, "Firefox"],
    [/HeadlessChrome\//, "Headless Chrome"],
    [/Chrom(e|ium)\//, "Chrome"],
    [/Safari\//, "Safari"],
    [/^curl\//, "curl"],
    [/python-httpx/, "Python httpx"],
    [/python-requests/, "Python requests"],
  ];
  const SYSTEMS = [
    [/Android/, "Android"],
    [/iPhone|iPad|iPod/, "iOS"],
    [/Windows/, "Windows"],
    [/Macintosh|Mac OS X/, "macOS"],
    [/CrOS/, "ChromeOS"],
    [/Linux/, "Linux"],
  ];

  function device(agent) {
    if (!agent) return "Unknown device";
    const browser = BROWSERS.find(([re]) => re.test(agent));
    const system = SYSTEMS.find(([re]) => re.test(agent));
    if (browser && system) return `${browser[1]} on ${system[1]}`;
    if (browser || system) return (browser || system)[1];
    const name = agent.split(/[\s(;]/)[0] || agent;
    return name.length > 40 ? `${name.slice(0, 40)}…` : name;
  }

  function fact(list, label, value) {
    const wrap = document.createElement("div");
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = label;
    if (typeof value === "string") dd.textContent = value;
    else dd.append(value);
    wrap.append(dt, dd);
    list.append(wrap);
  }

  let currentUser = null;

  function renderMe(user) {
    currentUser = user;
    $("me-email").textContent = user.email;
    $("me-id").textContent = user.id;
    $("me-created").replaceChildren(timeElement(user.created_at, dateFormat.format(new Date(user.created_at))));
    const status = [user.is_verified ? "email verified" : "email not verified"];
    if (user.is_superuser) status.push("superuser");
    if (user.roles && user.roles.length) status.push(`roles: ${user.roles.join(", ")}`);
    if (!user.is_active) status.push("inactive");
    $("me-status").textContent = status.join(" · ");
    $("verify-notice-email").textContent = user.email;
    $("verify-notice").hidden = Boolean(user.is_verified);
    renderPasswordless(user.has_password === false);
  }

  /** Without a password: the forms that confirm with one do not ask for it, and the card says why. */
  function renderPasswordless(passwordless) {
    $("no-password-note").hidden = !passwordless;
    for (const field of document.querySelectorAll("[data-password-field]")) {
      field.hidden = passwordless;
      const input = field.querySelector("input");
      input.disabled = passwordless;
      input.required = !passwordless;
    }
    for (const part of document.querySelectorAll("[data-recent-sign-in]")) part.hidden = !passwordless;
    const confirm = $("delete-confirm");
    confirm.disabled = !passwordless;
    confirm.required = passwordless;
  }

  const hasPassword = () => !currentUser || currentUser.has_password !== false;

  function renderSessions(sessions) {
    const list = $("sessions");
    sessions.sort((a, b) => (b.current - a.current) || Date.parse(b.last_used_at) - Date.parse(a.last_used_at));
    list.replaceChildren(
      ...sessions.map((s) => {
        const item = document.createElement("li");
        item.className = s.current ? "session current" : "session";
        item.dataset.sessionId = s.id;
        const name = device(s.user_agent);

        const head = document.createElement("div");
        head.className = "session-head";
        const title = document.createElement("strong");
        title.className = "device";
        title.textContent = name;
        head.append(title);
        if (s.current) {
          const tag = document.createElement("span");
          tag.className = "tag";
          tag.textContent = "This device";
          head.append(tag);
        }

        const agent = document.createElement("p");
        agent.className = "agent";
        agent.textContent = s.user_agent || "No user agent sent";

        const facts = document.createElement("dl");
        facts.className = "session-facts";
        fact(facts, "IP address", s.ip || "unknown");
        fact(facts, "Last used", timeElement(s.last_used_at, ago(s.last_used_at)));
        fact(facts, "Signed in", timeElement(s.created_at, dateFormat.format(new Date(s.created_at))));

        const button = document.createElement("button");
        button.type = "button";
        button.className = "button quiet revoke";
        button.textContent = s.current ? "Sign out this device" : "Revoke";
        button.setAttribute(
          "aria-label",
          s.current ? "Sign out this device" : `Revoke session: ${name}, ${s.ip || "unknown IP"}`,
        );
        button.addEventListener("click", () => busy(button, () => revoke(s.id, s.current)));

        item.append(head, agent, facts, button);
        return item;
      }),
    );
  }

  // ---------------------------------------------------------------------------------------------
  // sign-in providers

  /** The providers the page was rendered with: name -> display name (none: no provider parts). */
  const PROVIDERS = new Map(
    Array.from(document.querySelectorAll("a[data-provider]"), (a) => [a.dataset.provider, a.dataset.displayName]),
  );
  const providerName = (name) => PROVIDERS.get(name) || name;

  // What the page says when a provider's return carries `?oauth_error=<code>` (the error table's codes).
  const OAUTH_ERRORS = {
    oauth_state_invalid: "The sign-in with the provider expired or was started in another browser. Start again.",
    oauth_account_exists:
      "An account with this email address exists already. Sign in with its password, then link the provider " +
      "from your account.",
    provider_email_unverified: "The provider has not verified your email address, so it cannot sign you in here.",
    identity_taken: "That provider account is linked to another account already.",
    provider_unavailable: "The provider did not answer. Try again in a moment.",
    signin_not_allowed: "Signing in is not allowed for this account.",
    email_not_verified: "Verify your email address first: only a verified account can link a provider.",
  };
  const OAUTH_FAILED = "Signing in with the provider did not work. Try again.";

  /** This page's address, plus `values` in its query: where a provider sends the browser back to. */
  function pageUrl(values = {}) {
    const url = new URL(window.location.pathname, window.location.origin);
    for (const [key, value] of Object.entries(values)) url.searchParams.set(key, value);
    return url.href;
  }

  /** "Continue with ...": back to this page, marked, so that it can say how you signed in. */
  function pointProvidersBack() {
    for (const link of document.querySelectorAll("a[data-provider]")) {
      const url = new URL(link.href);
      url.searchParams.set("redirect_to", pageUrl({ signed_in_with: link.dataset.provider }));
      link.href = url.href;
    }
  }

  /** The marks a provider's return left in the address, taken out of the address bar and the history. */
  function takeReturn() {
    const url = new URL(window.location.href);
    const found = {};
    for (const key of ["signed_in_with", "linked", "oauth_error", "mfa_required"]) {
      if (!url.searchParams.has(key)) continue;
      found[key] = url.searchParams.get(key);
      url.searchParams.delete(key);
    }
    if (Object.keys(found).length) window.history.replaceState(null, "", url.pathname + url.search + url.hash);
    return found;
  }

  /** The providers this account signs in with (by name), as the last identity list said. */
  let linkedProviders = [];

  function renderIdentities(identities) {
    linkedProviders = [...new Set(identities.map((identity) => identity.provider))];
    if (linkedProviders.length) {
      $("no-password-providers").textContent = linkedProviders.map(providerName).join(" or ");
    }
    for (const button of document.querySelectorAll("button[data-reauth-provider]")) {
      button.hidden = linkedProviders.length > 0 && !linkedProviders.includes(button.dataset.reauthProvider);
    }
    const list = $("identities");
    list.hidden = identities.length === 0;
    $("identities-empty").hidden = identities.length > 0;
    list.replaceChildren(
      ...identities.map((identity) => {
        const name = providerName(identity.provider);
        const item = document.createElement("li");
        item.className = "session identity";
        item.dataset.identityId = identity.id;

        const head = document.createElement("div");
        head.className = "session-head";
        const title = document.createElement("strong");
        title.className = "device";
        title.textContent = name;
        head.append(title);

        const address = document.createElement("p");
        address.className = "agent";
        address.textContent = identity.email || "No email address from the provider";

        const facts = document.createElement("dl");
        facts.className = "session-facts";
        fact(facts, "Linked", timeElement(identity.created_at, dateFormat.format(new Date(identity.created_at))));
        fact(facts, "Last used", timeElement(identity.last_used_at, ago(identity.last_used_at)));

        const button = document.createElement("button");
        button.type = "button";
        button.className = "button quiet unlink";
        button.textContent = "Unlink";
        button.setAttribute("aria-label", `Unlink ${name}${identity.email ? `: ${identity.email}` : ""}`);
        button.addEventListener("click", () => busy(button, () => unlink(identity)));

        item.append(head, address, facts, button);
        return item;
      }),
    );
  }

  async function fetchIdentities() {
    const response = await authed("GET", "/oauth/accounts");
    if (!response.ok) throw new HttpError(await explain(response), response.status);
    return response.json();
  }

  async function unlink(identity) {
    const name = providerName(identity.provider);
    const response = await authed("DELETE", `/oauth/accounts/${encodeURIComponent(identity.id)}`);
    if (response.status === 204) say(`Your ${name} account is unlinked: it no longer signs you in here.`);
    else if (response.status === 409) say((await detailOf(response)) || "That account cannot be unlinked.", "error");
    else if (response.status === 404) say("That account was not linked any more.", "error");
    else say(await explain(response), "error");
    renderIdentities(await fetchIdentities());
    $("identities-title").focus();
  }

  /** "Link ...": the server starts the flow for this session; the provider's page asks, then sends you back. */
  async function linkProvider(name) {
    const path = `/oauth/${encodeURIComponent(name)}/link?redirect_to=${encodeURIComponent(pageUrl())}`;
    const response = await authed("POST", path);
    if (response.ok) {
      const { url } = await response.json();
      window.location.assign(url);
      return;
    }
    if (response.status === 403 && (await detailOf(response.clone())) === "Email not verified") {
      say(OAUTH_ERRORS.email_not_verified, "error");
    } else say(await explain(response, "link"), "error");
  }

  // ---------------------------------------------------------------------------------------------
  // two-step verification (TOTP)
  //
  // Signing in: a first factor (password or provider) of an account with TOTP answers
  // `{mfa_required, mfa_token}` instead of tokens, or (a provider's return in a browser) comes back
  // with `?mfa_required=1` and the MFA token in an HttpOnly cookie on `/auth/mfa`. The page then
  // asks for a code and POSTs `/mfa/verify` with cookie delivery: `{mfa_token, code}`, or `{code}`
  // alone when the cookie holds the token. The MFA token lives in a variable only, never in storage.
  //
  // Signed in: the "Two-step verification" card shows `GET /mfa`, sets up (the QR code is rebuilt
  // from the API's SVG as inline SVG elements, paths only: no markup is inserted, and no `data:` image
  // is needed, which the CSP's `img-src 'self'` would refuse), confirms, shows the recovery codes once,
  // makes new ones, and turns it off.

  /** The second step under way: the MFA token of a password sign-in (null: it is in the cookie). */
  let secondStep = null;

  const MFA_WRONG_TOTP = "That code is not right, or it was used already. Type the code your app shows now.";
  const MFA_WRONG_RECOVERY = "That recovery code is not right, or it was used already.";
  const MFA_EXPIRED = "The sign-in took too long and has expired. Sign in again.";
  
  /** The `code` of an error answer (`invalid_mfa_code`, ...), read from a copy of the response. */
  async function errorCode(response) {
    try {
      const data = await response.clone().json();
      return typeof data.code === "string" ? data.code : "";
    } catch {
      return "";
    }
  }

  /** The answer of a sign-in's first factor: does it want a second one? */
  async function wantsSecondFactor(response) {
    if (response.status !== 200) return null;
    try {
      const data = await response.clone().json();
      return data && data.mfa_required === true ? data : null;
    } catch {
      return null;
    }
  }

  /** The code form: a TOTP code (numeric keyboard, the app's autofill) or a recovery code. */
  function setRecoveryMode(recovery) {
    const form = $("mfa-form");
    const input = form.elements.code;
    form.dataset.method = recovery ? "recovery_code" : "totp";
    input.value = "";
    input.inputMode = recovery ? "text" : "numeric";
    input.autocomplete = recovery ? "off" : "one-time-code";
    $("mfa-code-label").textContent = recovery ? "Recovery code" : "Code from your app";
    $("mfa-hint").textContent = recovery
      ? "Enter one of the recovery codes you saved when you set up two-step verification. Each works once."
      : "Your account has two-step verification on. Enter the 6-digit code your authenticator app shows now.";
    $("mfa-use-recovery").textContent = recovery ? "Use a code from your app instead" : "Use a recovery code instead";
  }

  /** Show the code form. `mfaToken`: from the password sign-in's answer, or null (the cookie has it);
   * `methods`: the second factors the answer listed (null: unknown, a provider's return). */
  function showSecondStep(mfaToken, text, methods = null) {
    secondStep = { mfaToken, text };
    setRecoveryMode(false);
    offerPasskeyStep(methods);
    show("view-mfa", "mfa-code");
  }

  /** Back to the password form (the second step is abandoned or expired). */
  function leaveSecondStep(text, kind) {
    secondStep = null;
    $("mfa-form").reset();
    signedOut(text, kind, "login-email");
    if ($("login-email").value) $("login-password").focus();
  }

  /** "Verify": `POST /mfa/verify`; signed in as after a password sign-in when the code is right. */
  async function verifySecondStep(form) {
    if (secondStep === null) {
      leaveSecondStep(MFA_EXPIRED, "error");
      return;
    }
    const code = form.elements.code.value.trim();
    const json = secondStep.mfaToken === null ? { code } : { mfa_token: secondStep.mfaToken, code };
    const response = await send("POST", "/mfa/verify", { json, cookies: true });
    if (response.ok) {
      const { text } = secondStep;
      secondStep = null;
      form.reset();
      await afterSignIn(text);
      return;
    }
    const refusal = await errorCode(response);
    if (response.status === 400 && refusal === "invalid_mfa_code") {
      // the MFA token stays usable (until it expires): another try
      say(form.dataset.method === "recovery_code" ? MFA_WRONG_RECOVERY : MFA_WRONG_TOTP, "error");
      form.elements.code.select();
      form.elements.code.focus();
    } else if (
      (response.status === 400 && refusal === "invalid_code") ||
      response.status === 401 ||
      (response.status === 404 && refusal === "mfa_not_enabled")
    ) {
      // the MFA token is spent, expired or superseded (or the second factor was removed meanwhile)
      leaveSecondStep(MFA_EXPIRED, "error");
    } else {
      say(await explain(response, "login"), "error"); // 429 with its wait, 403, 5xx
      form.elements.code.focus();
    }
  }

  const SVG_NS = "http://www.w3.org/2000/svg";
  const NUMBER = /^\d{1,4}(\.\d+)?$/;

  /** The API's QR code (SVG text) as fresh SVG elements of this document: only the root's size and
   * its paths' drawing survive (`d`, a `scale()` transform); no markup of the answer is inserted. */
  function qrCode(svgText) {
    const parsed = new DOMParser().parseFromString(svgText, "image/svg+xml").documentElement;
    if (parsed.namespaceURI !== SVG_NS || parsed.localName !== "svg") throw new Error("not an SVG");
    const width = parsed.getAttribute("width") || "";
    const height = parsed.getAttribute("height") || "";
    if (!NUMBER.test(width) || !NUMBER.test(height)) throw new Error("an SVG without a plain size");
    const svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", "QR code to scan with your authenticator app");
    for (const found of parsed.getElementsByTagNameNS(SVG_NS, "path")) {
      const d = found.getAttribute("d") || "";
      if (!/^[MmHhVvLlZz0-9.\s,-]+$/.test(d)) continue;
      const path = document.createElementNS(SVG_NS, "path");
      path.setAttribute("d", d);
      const transform = /^scale\((\d{1,3}(\.\d+)?)\)$/.exec(found.getAttribute("transform") || "");
      if (transform) path.setAttribute("transform", `scale(${transform[1]})`);
      path.setAttribute("class", "qr-dark");
      svg.append(path);
    }
    if (!svg.childElementCount) throw new Error("an SVG without a drawing");
    return svg;
  }

  /** The base32 key in groups of four, as apps show it (they ignore the spaces). */
  function groupedSecret(secret) {
    return secret.replace(/(.{4})(?=.)/g, "$1 ");
  }

  /** The card's parts that show a secret (the key, the QR code, recovery codes) emptied and hidden. */
  function forgetMfaSecrets() {
    $("mfa-qr").replaceChildren();
    $("mfa-secret").textContent = "";
    $("mfa-recovery-codes").replaceChildren();
    $("mfa-enrol").hidden = true;
    $("mfa-codes").hidden = true;
    for (const id of ["mfa-confirm-form", "mfa-regenerate-form", "mfa-disable-form"]) $(id).reset();
  }

  let mfaStatus = null;

  /** The status line: on (with the recovery codes left) or off. */
  function renderMfaStatus(status) {
    mfaStatus = status;
    const left = status.recovery_codes_left;
    $("mfa-status").textContent = status.totp
      ? `On · ${left === 1 ? "1 recovery code" : `${left} recovery codes`} left`
      : "Off";
  }

  /** The card as `GET /mfa` says: the status, and "Set up" or the forms that change it. */
  function renderMfa(status) {
    renderMfaStatus(status);
    forgetMfaSecrets();
    $("mfa-off").hidden = status.totp;
    $("mfa-on").hidden = !status.totp;
  }

  async function fetchMfa() {
    const response = await authed("GET", "/mfa");
    if (!response.ok) throw new HttpError(await explain(response), response.status);
    return response.json();
  }

  /** "Set up": a new secret (not active yet), shown as a QR code and as text, and the code field. */
  async function startMfaSetup() {
    const response = await authed("POST", "/mfa/totp/setup");
    if (response.status === 409) {
      renderMfa(await fetchMfa());
      say("Two-step verification is on already.", "error");
      return;
    }
    if (!response.ok) throw new HttpError(await explain(response), response.status);
    const setup = await response.json();
    $("mfa-qr").replaceChildren(qrCode(setup.qr_svg));
    $("mfa-secret").textContent = groupedSecret(setup.secret);
    $("mfa-off").hidden = true;
    $("mfa-enrol").hidden = false;
    $("mfa-enrol-title").focus();
  }

  /** The recovery codes, shown this once, until "Done". */
  function showRecoveryCodes(codes) {
    forgetMfaSecrets();
    $("mfa-on").hidden = true;
    $("mfa-off").hidden = true;
    $("mfa-recovery-codes").replaceChildren(
      ...codes.map((code) => {
        const item = document.createElement("li");
        const text = document.createElement("code");
        text.textContent = code;
        item.append(text);
        return item;
      }),
    );
    $("mfa-codes").hidden = false;
    $("mfa-codes-title").focus();
  }

  /** A refused code in the card: words for the answer, the field ready for another try. */
  async function mfaRefused(response, form) {
    const code = await errorCode(response);
    if (response.status === 400 && code === "invalid_mfa_code") say(MFA_WRONG_TOTP, "error");
    else if (response.status === 404 && code === "mfa_not_enabled") {
      renderMfa(await fetchMfa());
      say("Two-step verification is not set up (any more). Start again.", "error");
      return;
    } else if (wantsRecentSignIn(response)) {
      askToSignInAgain(response, form);
      return;
    } else say(await explain(response, "mfa"), "error");
    const input = form.elements.code;
    input.select();
    input.focus();
  }

  /** "Turn on": the code from the new secret; the other sessions end (the server's word). */
  async function confirmMfa(form) {
    const response = await authed("POST", "/mfa/totp/confirm", { json: { code: form.elements.code.value.trim() } });
    if (!response.ok) {
      await mfaRefused(response, form);
      return;
    }
    const { recovery_codes: codes } = await response.json();
    renderMfaStatus({ totp: true, recovery_codes_left: codes.length });
    showRecoveryCodes(codes);
    say("Two-step verification is on. Your other sessions have been signed out.");
    await reloadSessions();
  }

  /** "New recovery codes": a current code confirms; the old set stops working. */
  async function regenerateRecoveryCodes(form) {
    const response = await authed("POST", "/mfa/recovery-codes", { json: { code: form.elements.code.value.trim() } });
    if (!response.ok) {
      await mfaRefused(response, form);
      return;
    }
    const { recovery_codes: codes } = await response.json();
    renderMfaStatus({ totp: true, recovery_codes_left: codes.length });
    showRecoveryCodes(codes);
    say("New recovery codes are ready. The old ones no longer work.");
  }

  /** "Turn off": the password (an account without one: none, a recent sign-in) and a current code. */
  async function disableMfa(form) {
    const response = await authed("POST", "/mfa/totp/disable", {
      json: { ...confirmation(form), code: form.elements.code.value.trim() },
    });
    if (response.status !== 204) {
      if (response.status === 400 && (await errorCode(response)) === "current_password_wrong") {
        say(await explain(response), "error");
        form.elements.password.select();
        form.elements.password.focus();
      } else await mfaRefused(response, form);
      return;
    }
    renderMfa(await fetchMfa());
    say("Two-step verification is off. Signing in needs only the first step again.");
    $("mfa-settings-title").focus();
  }

  function onMfaSubmit(id, action) {
    const form = $(id);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      clearMessage();
      $("reauth-notice").hidden = true;
      busy(form.querySelector("button[type=submit]"), () => action(form));
    });
  }

  /** The handlers of the code form and of the card. */
  function mfaHandlers() {
    onMfaSubmit("mfa-form", verifySecondStep);
    $("mfa-use-recovery").addEventListener("click", () => {
      clearMessage();
      setRecoveryMode($("mfa-form").dataset.method !== "recovery_code");
      $("mfa-code").focus();
    });
    $("mfa-back").addEventListener("click", (event) => {
      event.preventDefault();
      clearMessage();
      leaveSecondStep("");
    });
    $("mfa-setup").addEventListener("click", (event) => {
      clearMessage();
      busy(event.currentTarget, startMfaSetup);
    });
    $("mfa-setup-cancel").addEventListener("click", () => {
      clearMessage();
      renderMfa(mfaStatus || { totp: false, recovery_codes_left: 0 });
      $("mfa-settings-title").focus();
    });
    $("mfa-codes-done").addEventListener("click", () => {
      clearMessage();
      renderMfa(mfaStatus);
      $("mfa-settings-title").focus();
    });
    onMfaSubmit("mfa-confirm-form", confirmMfa);
    onMfaSubmit("mfa-regenerate-form", regenerateRecoveryCodes);
    onMfaSubmit("mfa-disable-form", disableMfa);
  }

  // ---------------------------------------------------------------------------------------------
  // passkeys (WebAuthn)
  //
  // On only when the server has a relying party: `<body data-passkey-rp-id data-passkey-origins
  // data-passkey-home>` (none of them: no passkey parts on the page). A browser runs a ceremony only
  // on an origin of the RP ID, and the server accepts only its configured origins, so on any other
  // origin (say 127.0.0.1 for the RP ID "localhost") the page names the address that works instead.
  //
  // The API's options are WebAuthn's JSON forms. `PublicKeyCredential.parse*OptionsFromJSON` turns them
  // into what `navigator.credentials` takes where the browser has it; elsewhere the page decodes the
  // base64url fields itself (the challenge, `user.id`, each credential's `id`). The answer goes back as
  // JSON built here (`credential.toJSON()` is not in every browser).
  //
  // - Signed out: "Sign in with a passkey": `POST /passkeys/login/options`, `get()`,
  //   `POST /passkeys/login/verify {credential}` with cookie delivery, as a password sign-in.
  // - The second step of a sign-in: "Use a passkey": `POST /mfa/passkey/options {mfa_token}` (`{}` when
  //   the token is in its cookie), `get()`, `POST /mfa/verify {mfa_token, credential}`.
  // - Signed in: the "Passkeys" card lists `GET /passkeys`, adds one (`/passkeys/register/options`,
  //   `create()`, `/passkeys/register/verify {credential, name}`; a recent sign-in is needed), renames
  //   (`PATCH`) and removes (`DELETE`) them, with the CSRF header as every other change.

  const PASSKEYS = document.body.dataset.passkeyRpId
    ? {
        rpId: document.body.dataset.passkeyRpId,
        origins: (document.body.dataset.passkeyOrigins || "").split(" ").filter(Boolean),
        home: document.body.dataset.passkeyHome || "",
      }
    : null;
  const PASSKEY_NAME = "Passkey";
  const PASSKEY_NAME_MAX = 64;
  const PASSKEY_REFUSED = "This passkey was not accepted. Try again, or sign in another way.";
  const PASSKEY_OFF = "Passkeys are not turned on on this server.";

  /** Where passkeys cannot work in this page: "elsewhere" (another origin), "unsupported", or null. */
  function passkeyObstacle() {
    if (PASSKEYS === null) return "off";
    if (!PASSKEYS.origins.includes(window.location.origin)) return "elsewhere";
    if (!window.PublicKeyCredential || !navigator.credentials) return "unsupported";
    return null;
  }

  /** The words (and link) in place of a passkey button that could not work here. */
  function passkeyElsewhere(element, obstacle) {
    element.hidden = false;
    if (obstacle === "elsewhere") {
      const link = document.createElement("a");
      link.href = new URL(window.location.pathname, PASSKEYS.home).href;
      link.textContent = PASSKEYS.home;
      element.replaceChildren("Passkeys work at ", link, ".");
    } else if (obstacle === "unsupported") element.textContent = "This browser does not support passkeys.";
    else element.textContent = PASSKEY_OFF;
  }

  function fromBase64url(text) {
    const plain = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4));
    const bytes = new Uint8Array(plain.length);
    for (let i = 0; i < plain.length; i += 1) bytes[i] = plain.charCodeAt(i);
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    let plain = "";
    for (const byte of new Uint8Array(buffer)) plain += String.fromCharCode(byte);
    return btoa(plain).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  const withIds = (list) => (list || []).map((descriptor) => ({ ...descriptor, id: fromBase64url(descriptor.id) }));

  /** `PublicKeyCredentialCreationOptionsJSON` as `navigator.credentials.create()` takes it. */
  function creationOptions(json) {
    if (typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function") {
      return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    }
    return {
      ...json,
      challenge: fromBase64url(json.challenge),
      user: { ...json.user, id: fromBase64url(json.user.id) },
      excludeCredentials: withIds(json.excludeCredentials),
    };
  }

  /** `PublicKeyCredentialRequestOptionsJSON` as `navigator.credentials.get()` takes it. */
  function requestOptions(json) {
    if (typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function") {
      return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    }
    return { ...json, challenge: fromBase64url(json.challenge), allowCredentials: withIds(json.allowCredentials) };
  }

  /** A new credential (`create()`) or an assertion (`get()`) as the JSON the API reads. */
  function credentialJSON(credential) {
    const answer = credential.response;
    const response = { clientDataJSON: toBase64url(answer.clientDataJSON) };
    if (answer.attestationObject !== undefined) {
      response.attestationObject = toBase64url(answer.attestationObject);
      if (typeof answer.getTransports === "function") response.transports = answer.getTransports();
    } else {
      response.authenticatorData = toBase64url(answer.authenticatorData);
      response.signature = toBase64url(answer.signature);
      if (answer.userHandle) response.userHandle = toBase64url(answer.userHandle);
    }
    const json = {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      response,
      clientExtensionResults: credential.getClientExtensionResults(),
    };
    if (typeof credential.authenticatorAttachment === "string") {
      json.authenticatorAttachment = credential.authenticatorAttachment;
    }
    return json;
  }

  /** Words for a ceremony the browser or the device did not complete (a DOMException's name). */
  function ceremonyFailed(error, making) {
    switch (error && error.name) {
      case "NotAllowedError":
      case "AbortError":
        return making
          ? "No passkey was added: it was cancelled, it timed out, or your device did not confirm it is you."
          : "No passkey was used: it was cancelled, it timed out, or your device did not confirm it is you.";
      case "InvalidStateError":
        return making
          ? "This device already has a passkey for this account (it is in the list). Add one on another device or passkey manager."
          : "The passkey could not be used. Try again.";
      case "SecurityError":
        return `The browser refused to use a passkey on this page. Passkeys work at ${PASSKEYS.home}.`;
      case "NotSupportedError":
        return "This device cannot make the kind of passkey needed here (one that checks it is you).";
      default:
        return null;
    }
  }

  /** `navigator.credentials[method](options)`: the credential, or null when it failed (said in words). */
  async function ceremony(method, options, making) {
    try {
      return await navigator.credentials[method]({ publicKey: options });
    } catch (error) {
      const words = ceremonyFailed(error, making);
      if (words === null) throw error;
      say(words, "error");
      return null;
    }
  }

  /** Words for a refused passkey answer of the API. */
  async function passkeyRefused(response) {
    const refusal = await errorCode(response);
    if (response.status === 400 && refusal === "invalid_passkey") return PASSKEY_REFUSED;
    if (response.status === 501 && refusal === "passkeys_off") return PASSKEY_OFF;
    return explain(response, "login");
  }

  /** Passkeys turned out to be off (501): no passkey button any more. */
  function passkeysTurnedOff() {
    for (const id of ["passkey-signin", "mfa-passkey", "passkeys-card"]) $(id).hidden = true;
  }

  /** "Sign in with a passkey": a passwordless sign-in, then the account as after a password. */
  async function passkeySignIn() {
    const options = await send("POST", "/passkeys/login/options");
    if (!options.ok) {
      if (options.status === 501) passkeysTurnedOff();
      say(await passkeyRefused(options), "error");
      return;
    }
    const credential = await ceremony("get", requestOptions(await options.json()), false);
    if (credential === null) return;
    const response = await send("POST", "/passkeys/login/verify", {
      json: { credential: credentialJSON(credential) },
      cookies: true,
    });
    if (!response.ok) {
      say(await passkeyRefused(response), "error");
      return;
    }
    $("login-form").reset();
    await afterSignIn("Signed in with a passkey.");
  }

  /** The second step offers "Use a passkey" when the account has one (`methods`), or may (null: a
   * provider's return, whose methods are unknown), and passkeys can work on this page. */
  function offerPasskeyStep(methods) {
    const offer = $("mfa-passkey");
    if (offer === null) return;
    offer.hidden = passkeyObstacle() !== null || (Array.isArray(methods) && !methods.includes("passkey"));
  }

  /** "Use a passkey": the second factor of the sign-in under way. */
  async function passkeySecondStep() {
    if (secondStep === null) {
      leaveSecondStep(MFA_EXPIRED, "error");
      return;
    }
    const token = secondStep.mfaToken === null ? {} : { mfa_token: secondStep.mfaToken };
    const options = await send("POST", "/mfa/passkey/options", { json: token });
    if (!options.ok) {
      const refusal = await errorCode(options);
      if (options.status === 404 && refusal === "mfa_not_enabled") {
        $("mfa-passkey").hidden = true;
        say("This account has no passkey. Enter the code from your app instead.", "error");
        $("mfa-code").focus();
      } else if (options.status === 401 || (options.status === 400 && refusal === "invalid_code")) {
        leaveSecondStep(MFA_EXPIRED, "error");
      } else {
        if (options.status === 501) passkeysTurnedOff();
        say(await passkeyRefused(options), "error");
      }
      return;
    }
    const credential = await ceremony("get", requestOptions(await options.json()), false);
    if (credential === null || secondStep === null) return;
    const response = await send("POST", "/mfa/verify", {
      json: { ...token, credential: credentialJSON(credential) },
      cookies: true,
    });
    if (response.ok) {
      const { text } = secondStep;
      secondStep = null;
      $("mfa-form").reset();
      await afterSignIn(text);
      return;
    }
    const refusal = await errorCode(response);
    if (
      (response.status === 400 && refusal === "invalid_code") ||
      response.status === 401 ||
      (response.status === 404 && refusal === "mfa_not_enabled")
    ) {
      leaveSecondStep(MFA_EXPIRED, "error");
    } else say(await passkeyRefused(response), "error"); // invalid_passkey, 429 with its wait, 5xx
  }

  /** A passkey's name as typed, or the reason it cannot be one (1 to 64 printable characters). */
  function passkeyName(typed, fallback) {
    const name = typed.split(/\s+/).filter(Boolean).join(" ") || fallback;
    if (name.length > PASSKEY_NAME_MAX || /[\p{Cc}\p{Cf}]/u.test(name)) return null;
    return name;
  }
  const BAD_NAME = `A passkey's name is 1 to ${PASSKEY_NAME_MAX} characters, without control characters.`;

  function renderPasskeys(passkeys) {
    const list = $("passkeys");
    list.hidden = passkeys.length === 0;
    $("passkeys-empty").hidden = passkeys.length > 0;
    list.replaceChildren(...passkeys.map(passkeyItem));
  }

  function passkeyItem(passkey) {
    const item = document.createElement("li");
    item.className = "session passkey";
    item.dataset.passkeyId = passkey.id;

    const head = document.createElement("div");
    head.className = "session-head";
    const title = document.createElement("strong");
    title.className = "device passkey-name";
    title.textContent = passkey.name;
    const kind = document.createElement("span");
    kind.className = passkey.synced ? "tag" : "tag plain";
    kind.textContent = passkey.synced ? "Synced" : "This device only";
    head.append(title, kind);

    const facts = document.createElement("dl");
    facts.className = "session-facts";
    fact(facts, "Created", timeElement(passkey.created_at, dateFormat.format(new Date(passkey.created_at))));
    fact(facts, "Last used", passkey.last_used_at ? timeElement(passkey.last_used_at, ago(passkey.last_used_at)) : "never");

    const actions = document.createElement("div");
    actions.className = "passkey-actions";
    const rename = document.createElement("button");
    rename.type = "button";
    rename.className = "button quiet";
    rename.textContent = "Rename";
    rename.setAttribute("aria-label", `Rename passkey ${passkey.name}`);
    rename.addEventListener("click", () => {
      clearMessage();
      startRename(item, passkey);
    });
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "button quiet danger";
    remove.textContent = "Remove";
    remove.setAttribute("aria-label", `Remove passkey ${passkey.name}`);
    remove.addEventListener("click", () => {
      clearMessage();
      busy(remove, () => removePasskey(passkey));
    });
    actions.append(rename, remove);

    item.append(head, facts, actions);
    return item;
  }

  /** "Rename": a small form in the passkey's place in the list, the current name to edit. */
  function startRename(item, passkey) {
    const form = document.createElement("form");
    form.className = "passkey-rename";
    form.method = "post";
    form.action = "#";
    const field = document.createElement("div");
    field.className = "field";
    const label = document.createElement("label");
    label.htmlFor = `passkey-rename-${passkey.id}`;
    label.textContent = `New name for ${passkey.name}`;
    const input = document.createElement("input");
    input.id = label.htmlFor;
    input.name = "name";
    input.type = "text";
    input.maxLength = PASSKEY_NAME_MAX;
    input.required = true;
    input.autocomplete = "off";
    input.spellcheck = false;
    input.value = passkey.name;
    field.append(label, input);
    const save = document.createElement("button");
    save.type = "submit";
    save.className = "button primary";
    save.textContent = "Save";
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "button quiet";
    cancel.textContent = "Cancel";
    cancel.addEventListener("click", () => {
      clearMessage();
      item.replaceWith(passkeyItem(passkey));
    });
    form.append(field, save, cancel);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      clearMessage();
      busy(save, () => renamePasskey(passkey, input));
    });
    item.replaceChildren(form);
    input.select();
    input.focus();
  }

  async function renamePasskey(passkey, input) {
    const name = passkeyName(input.value, "");
    if (!name) {
      say(BAD_NAME, "error");
      input.focus();
      return;
    }
    const response = await authed("PATCH", `/passkeys/${encodeURIComponent(passkey.id)}`, { json: { name } });
    if (response.status === 400 && (await errorCode(response)) === "invalid_passkey") {
      say(BAD_NAME, "error");
      input.focus();
      return;
    }
    let words;
    if (response.ok) words = [`The passkey is now called \u201c${(await response.json()).name}\u201d.`];
    else if (response.status === 404) words = ["That passkey was removed already.", "error"];
    else words = [await explain(response), "error"];
    renderPasskeys(await fetchPasskeys());
    $("passkeys-title").focus();
    say(...words);
  }

  async function removePasskey(passkey) {
    const response = await authed("DELETE", `/passkeys/${encodeURIComponent(passkey.id)}`);
    let words;
    if (response.status === 204) {
      words = [
        `The passkey \u201c${passkey.name}\u201d is removed: it no longer signs you in here. ` +
          "Your device may still list it; you can delete it there too.",
      ];
    } else if (response.status === 409 && (await errorCode(response)) === "last_sign_in_method") {
      words = [
        `\u201c${passkey.name}\u201d is the only way to sign in to this account, so it stays. ` +
          "Add another passkey, link a provider or set a password first.",
        "error",
      ];
    } else if (response.status === 404) words = ["That passkey was removed already.", "error"];
    else words = [await explain(response), "error"];
    renderPasskeys(await fetchPasskeys());
    $("passkeys-title").focus();
    say(...words);
  }

  async function fetchPasskeys() {
    const response = await authed("GET", "/passkeys");
    if (!response.ok) throw new HttpError(await explain(response), response.status);
    return response.json();
  }

  /** "Add a passkey": the device makes one for this account; the server keeps its public key. */
  async function addPasskey(form) {
    const name = passkeyName(form.elements.name.value, PASSKEY_NAME);
    if (name === null) {
      say(BAD_NAME, "error");
      form.elements.name.focus();
      return;
    }
    const options = await authed("POST", "/passkeys/register/options");
    if (!options.ok) {
      if (wantsRecentSignIn(options)) {
        askToSignInAgain(options, form, "Adding a passkey adds a way into your account");
      } else {
        if (options.status === 501) passkeysTurnedOff();
        say(await passkeyRefused(options), "error");
      }
      return;
    }
    const created = await ceremony("create", creationOptions(await options.json()), true);
    if (created === null) return;
    const response = await authed("POST", "/passkeys/register/verify", {
      json: { credential: credentialJSON(created), name },
    });
    if (response.status === 201) {
      const added = await response.json();
      form.reset();
      renderPasskeys(await fetchPasskeys());
      say(`Passkey \u201c${added.name}\u201d added: you can sign in with it now.`);
      $("passkeys-title").focus();
    } else if (wantsRecentSignIn(response)) {
      askToSignInAgain(response, form, "Adding a passkey adds a way into your account");
    } else if (response.status === 400 && (await errorCode(response)) === "invalid_passkey") {
      say("The new passkey was not accepted, so it was not added. Try again.", "error");
    } else say(await passkeyRefused(response), "error");
  }

  /** The passkey parts of the page: shown or replaced by where they work, and their handlers. */
  function passkeyHandlers() {
    if (PASSKEYS === null) return;
    const obstacle = passkeyObstacle();
    $("passkey-signin").hidden = false;
    if (obstacle === null) $("passkey-sign-in").hidden = false;
    else {
      passkeyElsewhere($("passkey-signin-elsewhere"), obstacle);
      passkeyElsewhere($("passkeys-elsewhere"), obstacle);
      $("passkey-add-form").hidden = true;
    }
    $("passkey-sign-in").addEventListener("click", (event) => {
      clearMessage();
      busy(event.currentTarget, passkeySignIn);
    });
    $("mfa-use-passkey").addEventListener("click", (event) => {
      clearMessage();
      busy(event.currentTarget, passkeySecondStep);
    });
    const form = $("passkey-add-form");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      clearMessage();
      $("reauth-notice").hidden = true;
      busy(form.querySelector("button[type=submit]"), () => addPasskey(form));
    });
  }

  async function loadAccount(focusId) {
    const me = await authed("GET", "/me");
    if (!me.ok) throw new HttpError(await explain(me), me.status);
    const user = await me.json();
    const sessions = await authed("GET", "/sessions");
    if (!sessions.ok) throw new HttpError(await explain(sessions), sessions.status);
    const identities = PROVIDERS.size ? await fetchIdentities() : null;
    const mfa = await fetchMfa();
    const passkeys = PASSKEYS !== null ? await fetchPasskeys() : null;
    $("reauth-notice").hidden = true;
    renderMe(user);
    renderSessions(await sessions.json());
    if (identities !== null) renderIdentities(identities);
    renderMfa(mfa);
    if (passkeys !== null) renderPasskeys(passkeys);
    show("view-signed-in", focusId);
  }

  async function reloadSessions() {
    const response = await authed("GET", "/sessions");
    if (!response.ok) throw new HttpError(await explain(response), response.status);
    renderSessions(await response.json());
  }

  /** After register/login: the cookies must have stuck, or nothing else will work. */
  async function afterSignIn(text) {
    if (!readCookie(CSRF_COOKIE)) {
      say(
        "Signed in, but the browser did not keep the cookies: they are Secure and this page is not served " +
          "over HTTPS. Use HTTPS, or FASTAUTH_COOKIE_SECURE=false for local development.",
        "error",
      );
      return;
    }
    await loadAccount("account-title");
    say(text);
  }

  async function signIn(form, path, action, text) {
    const email = form.elements.email.value.trim();
    const password = form.elements.password.value;
    const response = await send("POST", path, { json: { email, password }, cookies: true });
    if (!response.ok) {
      say(await explain(response, action), "error");
      form.elements.password.select();
      form.elements.password.focus();
      return;
    }
    const second = await wantsSecondFactor(response);
    if (second !== null) {
      form.elements.password.value = ""; // the email stays, should the second step expire
      showSecondStep(second.mfa_token, text, second.methods);
      return;
    }
    form.reset();
    await afterSignIn(text);
  }

  async function signOut() {
    const response = await send("POST", "/logout", { cookies: true });
    // 401: the session had already ended; either way this browser is signed out now.
    if (response.ok || response.status === 401) signedOut("Signed out.");
    else say(await explain(response), "error");
  }

  async function signOutEverywhere() {
    const response = await authed("DELETE", "/sessions");
    if (!response.ok) throw new HttpError(await explain(response), response.status);
    signedOut("Signed out on every device.");
  }

  async function revoke(id, current) {
    const response = await authed("DELETE", `/sessions/${encodeURIComponent(id)}`);
    if (response.ok && current) {
      signedOut("Signed out.");
      return;
    }
    if (response.ok) say("Session revoked: that device is signed out.");
    else say(await explain(response), "error");
    await reloadSessions();
    $("sessions-title").focus();
  }

  /** "Resend the link": the same 202 whatever the server did (it mails an unverified account only). */
  async function resendVerification() {
    const email = currentUser.email;
    const response = await send("POST", "/request-verify-token", { json: { email } });
    if (response.status === 202) {
      say(`A new link is on its way to ${email}. The links sent before it no longer work.`);
    } else say(await explain(response, "resend"), "error");
  }

  /** The password that confirms a change, when the account has one (without: a recent sign-in does). */
  function confirmation(form) {
    return hasPassword() ? { password: form.elements.password.value } : {};
  }

  /** The sign-in is too old for this change: say so, and offer the way to a new one. `why`: the reason a
   * recent sign-in confirms it (default: the account has no password). */
  function askToSignInAgain(response, form, why = "Your account has no password") {
    const maxAge = /max_age=(\d+)/.exec(response.headers.get("WWW-Authenticate") || "");
    const within = maxAge ? ` (in the last ${seconds(maxAge[1])})` : "";
    const notice = $("reauth-notice");
    $("reauth-detail").textContent =
      `${why}, so a recent sign-in${within} confirms this, and yours is older. ` +
      "Sign in again, then try once more. Nothing was changed.";
    form.after(notice);
    notice.hidden = false;
    say("Sign in again to confirm this: your sign-in is not recent enough. Nothing was changed.", "error");
    $("reauth-title").focus();
  }

  /** "Sign in again with ...": this session ends, then the provider's page, then back here. */
  async function signInAgain(name) {
    const start = document.querySelector(`a[data-provider="${CSS.escape(name)}"]`);
    const response = await send("POST", "/logout", { cookies: true });
    if (!response.ok && response.status !== 401) {
      say(await explain(response), "error");
      return;
    }
    window.location.assign(start.href);
  }

  /** "Change your email address": the link goes to the new address (the same answer if it is taken). */
  async function changeEmail(form) {
    const newEmail = form.elements.new_email.value.trim();
    const response = await authed("POST", "/change-email", {
      json: { new_email: newEmail, ...confirmation(form) },
    });
    if (response.status === 202) {
      form.reset();
      say(`A link is on its way to ${newEmail}. Open it to move your account there.`);
    } else if (wantsRecentSignIn(response)) askToSignInAgain(response, form);
    else say(await explain(response, "change"), "error");
  }

  /** "Delete your account": the password (or a recent sign-in) confirms; every device is signed out. */
  async function deleteAccount(form) {
    const response = await authed("DELETE", "/me", { json: confirmation(form) });
    if (response.status === 204) {
      form.reset();
      signedOut("Your account has been deleted.");
    } else if (wantsRecentSignIn(response)) askToSignInAgain(response, form);
    else say(await explain(response, "delete"), "error");
  }

  function showForgot() {
    clearMessage();
    const typed = $("login-email").value.trim();
    if (typed && !$("forgot-email").value) $("forgot-email").value = typed;
    show("view-forgot", "forgot-email");
  }

  const FORGOT_SENT = "If the address has an account, a mail with a reset link is on its way.";

  /** "Forgot password?": one answer whether or not the address has an account. */
  async function forgotPassword(form) {
    const email = form.elements.email.value.trim();
    const response = await send("POST", "/forgot-password", { json: { email } });
    if (response.status === 202) say(FORGOT_SENT);
    else say(await explain(response, "forgot"), "error");
  }

  async function start() {
    const back = takeReturn();
    const failed = back.oauth_error === undefined ? null : OAUTH_ERRORS[back.oauth_error] || OAUTH_FAILED;
    if (back.mfa_required === "1" && !failed) {
      // a provider's first factor was right; the MFA token is in its cookie, the code completes it
      const name = back.signed_in_with && PROVIDERS.has(back.signed_in_with) ? back.signed_in_with : null;
      showSecondStep(null, name ? `Signed in with ${providerName(name)}.` : "Signed in.");
      return;
    }
    if (!readCookie(CSRF_COOKIE)) {
      // `/#forgot-password`: where a reset page whose link no longer works sends people
      if (window.location.hash === "#forgot-password") showForgot();
      else show("view-signed-out");
      if (failed) say(failed, "error");
      return;
    }
    try {
      if (failed) {
        await loadAccount();
        say(failed, "error");
      } else if (back.linked && PROVIDERS.has(back.linked)) {
        await loadAccount("identities-title");
        say(`Your ${providerName(back.linked)} account is linked: you can sign in with it now.`);
      } else if (back.signed_in_with && PROVIDERS.has(back.signed_in_with)) {
        await loadAccount("account-title");
        say(`Signed in with ${providerName(back.signed_in_with)}.`);
      } else await loadAccount();
    } catch (error) {
      if (error instanceof SessionEnded) signedOut("Your last session has ended. Sign in again.");
      else {
        show("view-signed-out");
        report(error);
      }
    }
  }

  function onSubmit(form, path, action, text) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      clearMessage();
      busy(form.querySelector("button[type=submit]"), () => signIn(form, path, action, text));
    });
  }

  function signInPage() {
    onSubmit($("login-form"), "/login", "login", "Signed in.");
    onSubmit($("register-form"), "/register", "register", "Account created. You are signed in.");
    $("sign-out").addEventListener("click", (event) => busy(event.currentTarget, signOut));
    $("sign-out-everywhere").addEventListener("click", (event) => busy(event.currentTarget, signOutEverywhere));
    $("reload-sessions").addEventListener("click", (event) =>
      busy(event.currentTarget, async () => {
        await reloadSessions();
        say("Session list updated.");
      }),
    );
    $("resend-verification").addEventListener("click", (event) =>
      busy(event.currentTarget, resendVerification),
    );
    $("forgot-link").addEventListener("click", (event) => {
      event.preventDefault();
      showForgot();
    });
    $("forgot-back").addEventListener("click", (event) => {
      event.preventDefault();
      clearMessage();
      show("view-signed-out", "login-email");
    });
    for (const [id, action] of [["change-email-form", changeEmail], ["delete-form", deleteAccount]]) {
      const form = $(id);
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        clearMessage();
        $("reauth-notice").hidden = true;
        busy(form.querySelector("button[type=submit]"), () => action(form));
      });
    }
    for (const button of document.querySelectorAll("button[data-reauth-provider]")) {
      button.addEventListener("click", () => {
        clearMessage();
        busy(button, () => signInAgain(button.dataset.reauthProvider));
      });
    }
    $("reauth-sign-out").addEventListener("click", (event) => busy(event.currentTarget, signOut));
    for (const button of document.querySelectorAll("button[data-link-provider]")) {
      button.addEventListener("click", () => {
        clearMessage();
        busy(button, () => linkProvider(button.dataset.linkProvider));
      });
    }
    pointProvidersBack();
    mfaHandlers();
    passkeyHandlers();
    const forgotForm = $("forgot-form");
    forgotForm.addEventListener("submit", (event) => {
      event.preventDefault();
      clearMessage();
      busy(forgotForm.querySelector("button[type=submit]"), () => forgotPassword(forgotForm));
    });
    start();
  }

  // ---------------------------------------------------------------------------------------------
  // the pages the mails link to

  const NO_CODE =
    "There is no code in this address. Open the link from the mail again, all of it. (This page takes the " +
    "code out of the address bar once it has read it, so reloading the page cannot use it.)";
  const VERIFY_BAD =
    "It was used already, it has expired, or a newer link was sent since. Sign in and press " +
    "\u201cResend the link\u201d to get a new one.";
  const RESET_BAD =
    "It was used already, it has expired, a newer link was sent since, or the password was changed " +
    "meanwhile. Ask for a new link.";

  /** The code from the address (`?token=`), which leaves the address bar and the history entry at once. */
  function takeToken() {
    const url = new URL(window.location.href);
    const token = url.searchParams.get("token");
    if (url.searchParams.has("token")) {
      url.searchParams.delete("token");
      window.history.replaceState(null, "", url.pathname + url.search + url.hash);
    }
    return token || null;
  }

  function linkFailed(text) {
    $("failed-detail").textContent = text;
    show("view-link-failed", "failed-title");
  }

  /** The detail of a 400 answer (the API's code for a bad link), read from a copy of the response. */
  async function badLinkDetail(response) {
    return response.status === 400 ? detailOf(response.clone()) : "";
  }

  function verifyPage() {
    let token = takeToken();
    if (token === null) {
      linkFailed(NO_CODE);
      return;
    }
    show("view-verify");

    function verified(text) {
      token = null;
      $("verified-detail").textContent = text;
      show("view-verified", "verified-title");
    }

    $("verify-button").addEventListener("click", (event) =>
      busy(event.currentTarget, async () => {
        clearMessage();
        const response = await send("POST", "/verify", { json: { token } });
        if (response.ok) {
          const user = await response.json();
          verified(`${user.email} is verified. Thank you.`);
          return;
        }
        const detail = await badLinkDetail(response);
        if (detail === "VERIFY_USER_ALREADY_VERIFIED") {
          verified("It was verified already: there is nothing more to do.");
        } else if (detail === "VERIFY_USER_BAD_TOKEN") {
          token = null;
          linkFailed(VERIFY_BAD);
        } else say(await explain(response, "verify"), "error"); // the code is unspent: the button stays
      }),
    );
  }

  function resetPage() {
    let token = takeToken();
    if (token === null) {
      linkFailed(NO_CODE);
      return;
    }
    show("view-reset");
    const form = $("reset-form");
    const password = form.elements.password;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      clearMessage();
      busy(form.querySelector("button[type=submit]"), async () => {
        const response = await send("POST", "/reset-password", { json: { token, password: password.value } });
        if (response.ok) {
          token = null;
          form.reset();
          show("view-reset-done", "done-title"); // a reset does not sign in
          return;
        }
        if ((await badLinkDetail(response)) === "RESET_PASSWORD_BAD_TOKEN") {
          token = null;
          form.reset();
          linkFailed(RESET_BAD);
          return;
        }
        // 422 (the policy), 429, 5xx: nothing was spent; the code stays for the next try
        say(await explain(response, "reset"), "error");
        password.select();
        password.focus();
      });
    });
  }

  const CHANGE_BAD =
    "It was used already, it has expired, or a newer link was sent since. Sign in and ask for the " +
    "change again.";

  function confirmEmailChangePage() {
    let token = takeToken();
    if (token === null) {
      linkFailed(NO_CODE);
      return;
    }
    show("view-verify");
    $("verify-button").addEventListener("click", (event) =>
      busy(event.currentTarget, async () => {
        clearMessage();
        const response = await send("POST", "/change-email/confirm", { json: { token } });
        if (response.ok) {
          const user = await response.json();
          token = null;
          $("verified-detail").textContent = `Your account now uses ${user.email}. Sign in with it from now on.`;
          show("view-verified", "verified-title");
          return;
        }
        if ((await badLinkDetail(response)) === "CHANGE_EMAIL_BAD_TOKEN") {
          token = null;
          linkFailed(CHANGE_BAD);
        } else if (response.status === 409) {
          token = null;
          linkFailed("That address belongs to another account now, so yours was not changed.");
        } else if (response.status === 401) {
          say("Sign in to the account that asked for the change (in this browser), then open the link again.", "error");
        } else say(await explain(response, "change"), "error"); // the code is unspent: the button stays
      }),
    );
  }

  if (PAGE === "verify-email") verifyPage();
  else if (PAGE === "reset-password") resetPage();
  else if (PAGE === "confirm-email-change") confirmEmailChangePage();
  else signInPage();
})();
