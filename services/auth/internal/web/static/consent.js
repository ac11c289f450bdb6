// onekey consent: the cookie banner and, only after consent, the tag
// manager. This file is on a page only when the operator configured
// analytics. The server renders each page from the CookieConsent cookie:
// before consent the page holds no tag and its CSP allows no other origin,
// so a change of choice that changes what may load reloads the page.
"use strict";
(function () {
  var cfg = document.querySelector('meta[name="onekey-analytics"]');
  if (!cfg) return;
  var granted = cfg.getAttribute("data-consent") === "granted";
  var cookiebot = cfg.hasAttribute("data-cookiebot");
  var sixMonths = 182 * 24 * 3600;

  // The choice, in the shape of Cookiebot's own cookie, so a switch
  // between the two banners keeps it.
  function setConsent(stats) {
    var v = "{necessary:true,preferences:false,statistics:" + stats + ",marketing:false,method:'explicit',ver:1}";
    document.cookie = "CookieConsent=" + encodeURIComponent(v) + "; path=/; max-age=" + sixMonths + "; samesite=lax" +
      (location.protocol === "https:" ? "; secure" : "");
  }

  // Google Analytics' cookies (_ga, _ga_<id>) live on the host or on a
  // parent domain: delete them on each.
  function clearAnalyticsCookies() {
    var parts = location.hostname.split(".");
    document.cookie.split(";").forEach(function (c) {
      var name = c.split("=")[0].trim();
      if (name !== "_ga" && name.indexOf("_ga_") !== 0) return;
      document.cookie = name + "=; path=/; max-age=0";
      for (var i = 0; i < parts.length - 1; i++) {
        document.cookie = name + "=; path=/; max-age=0; domain=" + parts.slice(i).join(".");
      }
    });
  }

  // What the tag may learn of the page: its address without the query
  // (which can hold a token) and the same of the referrer.
  function loadTag() {
    var src = cfg.getAttribute("data-src");
    if (!src) return;
    var id = cfg.getAttribute("data-id");
    var page = { page_location: location.origin + location.pathname, page_referrer: document.referrer ? document.referrer.split(/[?#]/)[0] : "" };
    var events = Array.prototype.map.call(document.querySelectorAll('meta[name="onekey-analytics-event"]'), function (m) {
      var params = {};
      if (m.getAttribute("data-method")) params.method = m.getAttribute("data-method");
      return { name: m.content, params: params };
    });
    var dl = window.dataLayer = window.dataLayer || [];
    if (cfg.content === "gtm") {
      dl.push({ "gtm.start": Date.now(), event: "gtm.js" });
      dl.push(Object.assign({ event: "page_view" }, page));
      events.forEach(function (e) { dl.push(Object.assign({ event: e.name }, e.params)); });
    } else {
      var gtag = function () { dl.push(arguments); };
      gtag("js", new Date());
      gtag("config", id, page);
      events.forEach(function (e) { gtag("event", e.name, e.params); });
    }
    var s = document.createElement("script");
    s.async = true;
    s.src = src;
    document.head.appendChild(s);
  }

  function choose(stats) {
    setConsent(stats);
    if (!stats) clearAnalyticsCookies();
    if (stats !== granted) { location.reload(); return; }
    var banner = document.getElementById("consent");
    if (banner) banner.hidden = true;
  }

  function openChoice() {
    if (cookiebot) {
      if (window.Cookiebot && window.Cookiebot.renew) window.Cookiebot.renew();
      return;
    }
    var banner = document.getElementById("consent");
    if (!banner) return;
    banner.hidden = false;
    banner.setAttribute("tabindex", "-1");
    banner.focus();
  }

  document.addEventListener("click", function (ev) {
    var t = ev.target.closest ? ev.target.closest("[data-consent],[data-consent-open]") : null;
    if (!t) return;
    if (t.hasAttribute("data-consent-open")) { openChoice(); return; }
    var box = document.getElementById("consent-analytics");
    switch (t.getAttribute("data-consent")) {
      case "accept": choose(true); break;
      case "decline": choose(false); break;
      case "save": choose(!!(box && box.checked)); break;
      case "settings":
        var panel = document.getElementById("consent-settings");
        panel.hidden = !panel.hidden;
        t.setAttribute("aria-expanded", String(!panel.hidden));
        if (box) box.checked = granted;
        break;
    }
  });

  if (cookiebot) {
    // Cookiebot keeps the same cookie; follow its decisions.
    var follow = function () {
      var stats = !!(window.Cookiebot && window.Cookiebot.consent && window.Cookiebot.consent.statistics);
      if (!stats) clearAnalyticsCookies();
      if (stats !== granted) location.reload();
    };
    window.addEventListener("CookiebotOnAccept", follow);
    window.addEventListener("CookiebotOnDecline", follow);
  }

  if (granted) loadTag();
  else clearAnalyticsCookies();
})();
