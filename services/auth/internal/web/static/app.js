// onekey dashboard: progressive enhancement over server-rendered pages.
// Every change goes through the JSON API (/api/...) with the session's
// CSRF token; nothing here is inline (CSP: script-src 'self').
"use strict";
(function () {
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.content : "";

  function api(method, url, body) {
    var opt = { method: method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (method !== "GET") opt.headers["X-CSRF-Token"] = csrf;
    if (body !== undefined) { opt.headers["Content-Type"] = "application/json"; opt.body = JSON.stringify(body); }
    return fetch(url, opt).then(function (r) {
      return r.text().then(function (t) {
        var data = null;
        try { data = t ? JSON.parse(t) : null; } catch (e) { data = null; }
        if (!r.ok) {
          var msg = data && data.error && data.error.message ? data.error.message : "Request failed (" + r.status + ")";
          var err = new Error(msg); err.status = r.status; err.code = data && data.error && data.error.code; throw err;
        }
        return data;
      });
    });
  }

  // Dollars typed by a person ("12.5", "$1,000") to integer micro-USD,
  // by string arithmetic: no floating point touches an amount.
  function toMicros(s) {
    s = String(s || "").replace(/[$,\s]/g, "");
    if (s === "") return 0;
    var m = /^(\d+)(?:\.(\d{0,6}))?$/.exec(s);
    if (!m) throw new Error("Enter an amount such as 12.50 (up to 6 decimals).");
    var frac = (m[2] || "").padEnd(6, "0");
    var v = Number(m[1]) * 1000000 + Number(frac);
    if (!Number.isSafeInteger(v)) throw new Error("That amount is too large.");
    return v;
  }
  function groups(n) { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ","); }
  // Integer micro-USD to "$5.00" / "$0.003412", exactly.
  function usd(m) {
    var neg = m < 0; if (neg) m = -m;
    var whole = Math.floor(m / 1000000), frac = String(m % 1000000).padStart(6, "0").replace(/0+$/, "");
    while (frac.length < 2) frac += "0";
    return (neg ? "-$" : "$") + groups(whole) + "." + frac;
  }

  function fieldValue(el) {
    var kind = el.getAttribute("data-kind");
    var v = el.value.trim();
    if (kind === "usd") return toMicros(v);
    if (kind === "int") { if (v === "") return 0; if (!/^\d+$/.test(v)) throw new Error((el.labels && el.labels[0] ? el.labels[0].textContent : el.name) + ": whole number, please."); return Number(v); }
    if (kind === "date-end") return v === "" ? undefined : v + "T23:59:59Z";
    return v;
  }

  function formBody(form) {
    var body = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.disabled || el.type === "submit" || el.type === "button") return;
      var v = fieldValue(el);
      if (v !== undefined) body[el.name] = v;
    });
    return body;
  }

  function showError(form, msg) {
    var box = form.querySelector(".error");
    if (box) { box.textContent = msg; box.hidden = !msg; }
  }

  var then = {
    reload: function () { location.reload(); },
    "go-sign-in": function () { location.href = "/sign-in"; },
    redirect: function (data) { if (data && data.url) location.href = data.url; },
    "check-mail": function (data, form, body) {
      form.hidden = true;
      var box = document.getElementById("check-mail");
      box.querySelector('[data-field="email"]').textContent = body.email;
      box.hidden = false; box.focus();
    },
    "show-key": function (data, form) {
      var dlg = form.closest("dialog"); if (dlg) dlg.close();
      var box = document.getElementById("new-key");
      box.querySelector('[data-testid="new-key-secret"]').textContent = data.key;
      box.querySelector('[data-field="name"]').textContent = data.name;
      box.hidden = false; box.scrollIntoView({ block: "center" }); box.focus();
      form.reset();
    },
    saved: function (data, form) {
      var s = form.querySelector(".saved"); if (s) { s.hidden = false; setTimeout(function () { s.hidden = true; }, 4000); }
    },
    claim: function (data, form) { form.reset(); watchClaim(data.claim_id, data); },
    "download": function () {}
  };

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.hasAttribute("data-api")) return;
    ev.preventDefault();
    var body;
    try { body = formBody(form); } catch (e) { showError(form, e.message); return; }
    showError(form, "");
    var btns = form.querySelectorAll("button[type=submit]");
    btns.forEach(function (b) { b.disabled = true; });
    var method = form.getAttribute("data-method") || "POST";
    api(method, form.getAttribute("data-api"), method === "DELETE" ? undefined : body).then(function (data) {
      var fn = then[form.getAttribute("data-then") || "reload"];
      if (fn) fn(data, form, body);
    }).catch(function (e) {
      showError(form, e.message);
      if (e.status === 401) location.href = "/sign-in";
    }).finally(function () { btns.forEach(function (b) { b.disabled = false; }); });
  });

  document.addEventListener("click", function (ev) {
    var t = ev.target.closest("[data-open-dialog],[data-close-dialog],[data-copy],[data-amount],[data-action]");
    if (!t) return;
    if (t.hasAttribute("data-open-dialog")) {
      var d = document.getElementById(t.getAttribute("data-open-dialog"));
      if (d) { d.showModal(); var f = d.querySelector("input,select,button:not([data-close-dialog])"); if (f) f.focus(); }
    } else if (t.hasAttribute("data-close-dialog")) {
      t.closest("dialog").close();
    } else if (t.hasAttribute("data-copy")) {
      copy(t, document.getElementById(t.getAttribute("data-copy")).textContent.trim());
    } else if (t.hasAttribute("data-amount")) {
      var input = document.getElementById(t.getAttribute("data-for"));
      input.value = t.getAttribute("data-amount");
      t.parentNode.querySelectorAll("[data-amount]").forEach(function (b) { b.setAttribute("aria-pressed", b === t ? "true" : "false"); });
    } else if (t.getAttribute("data-action") === "reset-signin") {
      document.getElementById("check-mail").hidden = true;
      var form = document.getElementById("magic-link-form"); form.hidden = false; form.querySelector("input").focus();
    } else if (t.getAttribute("data-action") === "link-wallet") {
      linkWallet(t);
    }
  });

  function copy(btn, text) {
    var done = function () {
      var old = btn.getAttribute("data-label") || btn.textContent;
      btn.setAttribute("data-label", old); btn.textContent = "Copied";
      setTimeout(function () { btn.textContent = old; }, 2000);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallbackCopy(text); done(); });
    } else { fallbackCopy(text); done(); }
  }
  function fallbackCopy(text) {
    var ta = document.createElement("textarea"); ta.value = text; ta.setAttribute("readonly", "");
    ta.className = "skip"; document.body.appendChild(ta); ta.select();
    try { document.execCommand("copy"); } catch (e) { /* nothing more to try */ }
    document.body.removeChild(ta);
  }

  // Typed confirmation: the button works only once the phrase is typed.
  document.addEventListener("input", function (ev) {
    var el = ev.target;
    if (!el.hasAttribute("data-confirm-phrase")) return;
    document.getElementById(el.getAttribute("data-confirm-button")).disabled = el.value.trim() !== el.getAttribute("data-confirm-phrase");
  });

  // Live balance: polls GET /api/balance while the page is visible and
  // updates the figures when a payment (or usage) lands.
  var live = document.querySelector("[data-live-balance]");
  if (live) {
    var shown = live.getAttribute("data-live-balance");
    var poll = function () {
      if (document.hidden) return;
      api("GET", "/api/balance").then(function (b) {
        var key = b.balance_micros + "/" + b.free_requests_left;
        if (key === shown) return;
        shown = key;
        document.querySelectorAll('[data-testid="balance"]').forEach(function (el) { el.textContent = usd(b.balance_micros); });
        document.querySelectorAll('[data-testid="free-requests"]').forEach(function (el) { el.textContent = groups(b.free_requests_left); });
        var note = document.getElementById("balance-updated");
        if (note) { note.hidden = false; note.textContent = "Balance updated: " + usd(b.balance_micros); }
        showBanner(b);
        refreshPayments();
      }).catch(function () {});
    };
    setInterval(poll, Number(live.getAttribute("data-interval") || 5000));
    document.addEventListener("visibilitychange", poll);
  }

  // The overview's balance banner for a new balance, decided as the
  // server's bannerKind (overview.go) decides it; the banners' markup
  // comes from the page's <template data-banners>.
  function showBanner(b) {
    var slot = document.querySelector("[data-live-banner]"), all = document.querySelector("template[data-banners]");
    if (!slot || !all) return;
    var threshold = Number(live.getAttribute("data-low-threshold") || 0);
    var bal = b.balance_micros, free = b.free_requests_left, low = threshold > 0 && bal < threshold, kind = "";
    if (!b.opened) kind = "";
    else if (bal <= 0 && free === 0) kind = "empty";
    else if (low && free > 0) kind = "free";
    else if (low) kind = "low";
    var cur = slot.querySelector("[data-banner]");
    if (!cur || cur.getAttribute("data-banner") !== kind) {
      slot.textContent = "";
      var tpl = kind && all.content.querySelector('[data-banner="' + kind + '"]');
      if (tpl) slot.appendChild(tpl.cloneNode(true));
    }
    slot.querySelectorAll('[data-field="free-left"]').forEach(function (e) { e.textContent = groups(free); });
  }

  // Billing's payment history, fetched again when the balance changes (a
  // payment landed). Rows are built as nodes: no markup from the API.
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  function datetime(iso) {
    var d = new Date(iso), two = function (n) { return String(n).padStart(2, "0"); };
    if (isNaN(d.getTime())) return iso;
    return d.getUTCDate() + " " + MONTHS[d.getUTCMonth()] + " " + d.getUTCFullYear() + " " + two(d.getUTCHours()) + ":" + two(d.getUTCMinutes()) + " UTC";
  }
  function refreshPayments() {
    var box = document.querySelector("[data-payments]");
    if (!box) return;
    var labels = JSON.parse(box.getAttribute("data-labels") || "{}"), max = Number(box.getAttribute("data-max") || 0);
    var label = function (kind, v) { return (labels[kind] && labels[kind][v]) || v; };
    api("GET", "/api/payments").then(function (d) {
      var pays = (d && d.payments) || [], body = box.querySelector("[data-payment-rows]");
      body.textContent = "";
      pays.forEach(function (p) {
        var tr = el("tr"); tr.setAttribute("data-testid", "payment-row");
        [["Date", datetime(p.time)], ["What", label("kind", p.kind)], ["Method", label("method", p.method)], ["Amount", usd(p.amount_micros)]].forEach(function (c, i) {
          var td = el("td", c[1], i === 3 ? "n" : undefined); td.setAttribute("data-label", c[0]); tr.appendChild(td);
        });
        body.appendChild(tr);
      });
      body.closest(".table-wrap").hidden = pays.length === 0;
      box.querySelector("[data-payments-empty]").hidden = pays.length > 0;
      box.querySelector("[data-payments-more]").hidden = pays.length < max;
    }).catch(function () {});
  }

  // Crypto: chains, deposit addresses, wallets and claims from GET /api/crypto.
  var crypto = document.getElementById("crypto");
  if (crypto) loadCrypto();
  function el(tag, text, cls) { var e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; }
  function loadCrypto() {
    var status = crypto.querySelector("[data-crypto-status]");
    api("GET", "/api/crypto").then(function (d) {
      status.hidden = true;
      var chains = crypto.querySelector("[data-crypto-chains]");
      var select = crypto.querySelector("select[name=chain]");
      chains.textContent = ""; select.textContent = "";
      if (!d.chains.length) { status.hidden = false; status.textContent = "No chains are configured on this deployment."; return; }
      crypto.querySelector("[data-crypto-body]").hidden = false;
      d.chains.forEach(function (c, i) {
        var row = el("div", undefined, "card");
        row.appendChild(el("h3", c.chain.charAt(0).toUpperCase() + c.chain.slice(1) + " · " + c.tokens.join(", ")));
        var sec = el("div", undefined, "secret");
        var code = el("code", c.deposit_address); code.id = "deposit-" + i; code.setAttribute("data-testid", "deposit-address");
        var btn = el("button", "Copy"); btn.type = "button"; btn.setAttribute("data-copy", code.id); btn.setAttribute("aria-label", "Copy the " + c.chain + " deposit address");
        sec.appendChild(code); sec.appendChild(btn); row.appendChild(sec);
        chains.appendChild(row);
        var opt = el("option", c.chain); opt.value = c.chain; select.appendChild(opt);
      });
      var wl = crypto.querySelector("[data-crypto-wallets]"); wl.textContent = "";
      if (!d.wallets || !d.wallets.length) wl.appendChild(el("li", "No wallet linked yet.", "muted"));
      (d.wallets || []).forEach(function (w) { var li = el("li"); li.appendChild(el("code", w)); li.setAttribute("data-testid", "linked-wallet"); wl.appendChild(li); });
      var cl = crypto.querySelector("[data-crypto-claims]"); cl.textContent = "";
      (d.claims || []).forEach(function (c) { cl.appendChild(claimRow(c)); });
      crypto.querySelector("[data-crypto-claims-empty]").hidden = (d.claims || []).length > 0;
    }).catch(function (e) { status.hidden = false; status.textContent = "Crypto payments are not available: " + e.message; });
  }
  function claimRow(c) {
    var tr = el("tr"); tr.setAttribute("data-claim", c.claim_id);
    tr.appendChild(el("td", c.chain));
    var h = el("td"); h.appendChild(el("code", c.tx_hash.slice(0, 10) + "…" + c.tx_hash.slice(-6))); h.title = c.tx_hash; tr.appendChild(h);
    var st = el("td"); var p = el("span", c.status + (c.reason ? ": " + c.reason : ""), "pill " + ({ confirmed: "ok", rejected: "bad", pending: "warn" }[c.status] || ""));
    p.setAttribute("data-testid", "claim-status"); p.setAttribute("role", "status"); st.appendChild(p); tr.appendChild(st);
    return tr;
  }
  function watchClaim(id, first) {
    var body = crypto.querySelector("[data-crypto-claims]");
    crypto.querySelector("[data-crypto-claims-empty]").hidden = true;
    var render = function (c) {
      var old = body.querySelector('[data-claim="' + id + '"]'), row = claimRow(c);
      if (old) body.replaceChild(row, old); else body.insertBefore(row, body.firstChild);
    };
    render(first);
    var t = setInterval(function () {
      api("GET", "/api/crypto/claims/" + encodeURIComponent(id)).then(function (c) {
        render(c);
        if (c.status !== "pending") clearInterval(t);
      }).catch(function () {});
    }, 4000);
  }

  // Link a wallet: the browser's injected wallet (EIP-1193) signs the
  // nonce message with personal_sign.
  function linkWallet(btn) {
    var out = document.getElementById("wallet-status");
    var say = function (m) { out.hidden = false; out.textContent = m; };
    var eth = window.ethereum;
    if (!eth || !eth.request) { say("No browser wallet found. Install one (e.g. MetaMask) or use a browser that has one."); return; }
    btn.disabled = true;
    var address, nonce;
    eth.request({ method: "eth_requestAccounts" }).then(function (accs) {
      address = accs[0];
      say("Sign the message in your wallet to link " + address + "…");
      return api("POST", "/api/crypto/wallets/nonce", { address: address });
    }).then(function (n) {
      nonce = n.nonce;
      var hex = "0x" + Array.prototype.map.call(new TextEncoder().encode(n.message), function (b) { return b.toString(16).padStart(2, "0"); }).join("");
      return eth.request({ method: "personal_sign", params: [hex, address] });
    }).then(function (sig) {
      return api("POST", "/api/crypto/wallets", { address: address, nonce: nonce, signature: sig });
    }).then(function (w) {
      say("Linked " + w.address + ". Payments from it can now be claimed.");
      loadCrypto();
    }).catch(function (e) { say("Not linked: " + (e.message || e)); })
      .finally(function () { btn.disabled = false; });
  }
})();
