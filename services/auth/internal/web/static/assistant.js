// The assistant's panel: the conversation lives in this page's memory only
// (never in storage) and is sent whole with each question to
// POST /api/assistant/messages, whose answer streams back as server-sent
// events (one JSON event per "data:" line: text, tool, done, error).
(function () {
  "use strict";
  var panel = document.getElementById("assistant");
  var opener = document.querySelector("[data-testid=assistant-open]");
  if (!panel || !opener) return;
  var log = panel.querySelector("[data-testid=assistant-log]");
  var form = panel.querySelector("[data-testid=assistant-form]");
  var input = panel.querySelector("[data-testid=assistant-input]");
  var send = panel.querySelector("[data-testid=assistant-send]");
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.content : "";
  var conv = []; // {role, content}
  var busy = false;
  var MAX_MESSAGES = 20, MAX_BYTES = 48000;

  function open(show) {
    panel.hidden = !show;
    opener.hidden = show;
    opener.setAttribute("aria-expanded", show ? "true" : "false");
    if (show) input.focus(); else opener.focus();
  }
  opener.addEventListener("click", function () { open(true); });
  panel.querySelector("[data-testid=assistant-close]").addEventListener("click", function () { open(false); });
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") open(false); });

  // render shows text with paragraphs, `code` and [links](/path) to this
  // site's pages only, built as DOM nodes (never as HTML).
  function render(el, text) {
    el.textContent = "";
    text.split(/\n{2,}/).forEach(function (para) {
      var p = document.createElement("p");
      var re = /\[([^\]\n]+)\]\((\/[A-Za-z0-9\/_#?=&.-]*)\)|`([^`\n]+)`|\*\*([^*\n]+)\*\*/g;
      var last = 0, m;
      while ((m = re.exec(para)) !== null) {
        if (m.index > last) p.appendChild(lines(para.slice(last, m.index)));
        var node;
        if (m[1] !== undefined) { node = document.createElement("a"); node.href = m[2]; node.textContent = m[1]; }
        else if (m[3] !== undefined) { node = document.createElement("code"); node.textContent = m[3]; }
        else { node = document.createElement("strong"); node.textContent = m[4]; }
        p.appendChild(node);
        last = re.lastIndex;
      }
      if (last < para.length) p.appendChild(lines(para.slice(last)));
      el.appendChild(p);
    });
  }
  function lines(s) {
    var f = document.createDocumentFragment();
    s.split("\n").forEach(function (l, i) {
      if (i > 0) f.appendChild(document.createElement("br"));
      f.appendChild(document.createTextNode(l));
    });
    return f;
  }
  function bubble(role, text) {
    var d = document.createElement("div");
    d.className = "asst-msg " + role;
    d.setAttribute("data-testid", "assistant-" + role);
    render(d, text);
    log.appendChild(d);
    log.scrollTop = log.scrollHeight;
    return d;
  }

  // recent is the end of the conversation that fits the API's limits.
  function recent() {
    var out = conv.slice(-MAX_MESSAGES);
    while (out.length > 1 && (out[0].role !== "user" || JSON.stringify(out).length > MAX_BYTES)) out = out.slice(1);
    return out;
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var q = input.value.trim();
    if (!q || busy) return;
    busy = true;
    send.disabled = true;
    input.value = "";
    conv.push({ role: "user", content: q });
    bubble("user", q);
    var answer = bubble("assistant", "");
    answer.setAttribute("aria-busy", "true");
    var tool = null, text = "";
    function finish(ok, refusal) {
      answer.removeAttribute("aria-busy");
      if (tool) { tool.remove(); tool = null; }
      if (ok && text) conv.push({ role: "assistant", content: text });
      else conv.pop(); // an unanswered question is not sent again
      if (refusal) { answer.classList.add("refusal"); render(answer, refusal); answer.setAttribute("data-testid", "assistant-refusal"); }
      busy = false;
      send.disabled = false;
      input.focus();
    }
    function onEvent(ev) {
      if (ev.type === "text") {
        if (tool) { tool.remove(); tool = null; }
        text += ev.text;
        render(answer, text);
        log.scrollTop = log.scrollHeight;
      } else if (ev.type === "tool") {
        if (!tool) { tool = document.createElement("p"); tool.className = "asst-tool"; log.appendChild(tool); }
        tool.textContent = (ev.text || "Looking it up") + "…";
      } else if (ev.type === "done") {
        finish(true);
      } else if (ev.type === "error") {
        finish(false, ev.text);
      }
    }
    fetch("/api/assistant/messages", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, "Accept": "text/event-stream" },
      body: JSON.stringify({ messages: recent() })
    }).then(function (r) {
      if (!r.ok || !r.body) {
        return r.json().then(function (b) { finish(false, (b.error && b.error.message) || "The assistant is not available."); },
          function () { finish(false, "The assistant is not available."); });
      }
      var reader = r.body.getReader(), dec = new TextDecoder(), buf = "", ended = false;
      function pump() {
        return reader.read().then(function (res) {
          if (!res.done) buf += dec.decode(res.value, { stream: true });
          var i;
          while ((i = buf.indexOf("\n\n")) >= 0) {
            var chunk = buf.slice(0, i);
            buf = buf.slice(i + 2);
            chunk.split("\n").forEach(function (line) {
              if (line.indexOf("data: ") === 0) {
                var ev = JSON.parse(line.slice(6));
                if (ev.type === "done" || ev.type === "error") ended = true;
                onEvent(ev);
              }
            });
          }
          if (res.done) { if (!ended) finish(false, "The answer was cut off; please ask again."); return; }
          return pump();
        });
      }
      return pump();
    }).catch(function () { finish(false, "The assistant could not be reached; please try again."); });
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
  });
})();
