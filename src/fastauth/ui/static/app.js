// The sign-in page of `fastauth serve`: a browser app of the auth API, with nothing hidden.
//
// - register/login/refresh send `X-Fastauth-Delivery: cookie`: the tokens come back as HTTP-only
//   cookies (this script never sees them), plus a readable `csrf_token` cookie;
// - every unsafe request echoes that cookie in `X-CSRF-Token`;
// - an authenticated request that gets 401 triggers one refresh (shared by concurrent callers) and
//   one retry; when the refresh fails too, the session is over and the page says so.
"use strict";

(() => {
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

  /** A request as the signed-in user: on 401, one silent refresh and one retry. */
  async function authed(method, path, options) {
    let response = await send(method, path, options);
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

  /** Words for a failed response. `action` is "login", "register" or anything else. */
  async function explain(response, action) {
    const detail = await detailOf(response);
    switch (response.status) {
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
        return action === "register" ? `The account was not created: ${reason}.` : `Not accepted: ${reason}.`;
      }
      case 429:
        return `Too many attempts. Wait ${seconds(response.headers.get("Retry-After"))} before trying again.`;
      default:
        if (response.status >= 500) {
          return `The server could not answer (error ${response.status}). Try again in a moment.`;
        }
        return detail || `Unexpected answer from the server (${response.status}).`;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // the page

  const views = ["view-loading", "view-signed-out", "view-signed-in"];
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

  function renderMe(user) {
    $("me-email").textContent = user.email;
    $("me-id").textContent = user.id;
    $("me-created").replaceChildren(timeElement(user.created_at, dateFormat.format(new Date(user.created_at))));
    const status = [user.is_verified ? "email verified" : "email not verified"];
    if (user.is_superuser) status.push("superuser");
    if (user.roles && user.roles.length) status.push(`roles: ${user.roles.join(", ")}`);
    if (!user.is_active) status.push("inactive");
    $("me-status").textContent = status.join(" · ");
  }

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

  async function loadAccount(focusId) {
    const me = await authed("GET", "/me");
    if (!me.ok) throw new HttpError(await explain(me), me.status);
    const user = await me.json();
    const sessions = await authed("GET", "/sessions");
    if (!sessions.ok) throw new HttpError(await explain(sessions), sessions.status);
    renderMe(user);
    renderSessions(await sessions.json());
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

  async function start() {
    if (!readCookie(CSRF_COOKIE)) {
      show("view-signed-out");
      return;
    }
    try {
      await loadAccount();
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
  start();
})();
