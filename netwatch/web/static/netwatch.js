// netwatch status page: refreshes the server-rendered page from the JSON API every ~15 s and
// handles acknowledge/silence with the API token kept in sessionStorage. No framework, no build.
// Every value from the server is put in the page with textContent or setAttribute, never as
// HTML, so a site named "<script>" stays text.
(function () {
  "use strict";

  var body = document.body;
  var page = body.dataset.page;
  var api = body.dataset.api;
  var lang = body.dataset.lang;
  var refreshSeconds = Number(body.dataset.refresh) || 15;
  var tz = body.dataset.tz;
  var SLOTS = 240;  // minutes in the sparkline: netwatch.web.recent.MINUTES
  var T = JSON.parse(document.getElementById("nw-text").textContent);
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  var TOKEN_KEY = "netwatch-token";
  var WHO_KEY = "netwatch-who";
  var SVG = "http://www.w3.org/2000/svg";

  function t(key, detail) {
    var s = Object.prototype.hasOwnProperty.call(T, key) ? T[key] : key;
    return detail === undefined ? s : s.replace("{detail}", detail).replace("{n}", detail);
  }

  // h("a", {href: "/x", class: "y"}, "text", childNode): an element; strings become text nodes.
  function h(tag, attrs) {
    var el = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (attrs[k] !== null && attrs[k] !== undefined && attrs[k] !== false) {
        el.setAttribute(k, attrs[k] === true ? "" : String(attrs[k]));
      }
    });
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined) continue;
      el.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  function clear(el) {
    while (el.firstChild) el.removeChild(el.firstChild);
    return el;
  }

  // Times come as ISO strings already in the agent's zone: show their digits, do not convert.
  function when(iso) {
    var m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(iso || "");
    if (!m) return "\u2013";
    if (lang === "en") return m[4] + ":" + m[5] + ", " + Number(m[3]) + " " + MONTHS[m[2] - 1] + " " + m[1];
    return m[4] + ":" + m[5] + " ngày " + m[3] + "/" + m[2] + "/" + m[1];
  }

  function ms(s) { return s === null || s === undefined ? "\u2013" : (s * 1000).toFixed(1) + " ms"; }
  function pct(r) { return r === null || r === undefined ? "\u2013" : (r * 100).toFixed(0) + " %"; }
  function bits(b) {
    if (b === null || b === undefined) return "\u2013";
    var units = ["bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"];
    var i = 0;
    while (Math.abs(b) >= 1000 && i < units.length - 1) { b /= 1000; i++; }
    return Number(b.toPrecision(3)) + " " + units[i];
  }

  function badge(status) {
    return h("span", {class: "badge st-" + status}, t("status_" + status));
  }

  // Device counts per status, then the failing services (as netwatch.web.sections._counts).
  // As views.check_state: a failing application reads "Ứng dụng lỗi", not "Mất kết nối".
  function checkState(name, status) {
    return name.indexOf("service:") === 0 && status === "down" ? "degraded" : status;
  }

  function counts(c, labelled, failing) {
    var span = h("span", {class: "counts"});
    function chip(s, n, title) {
      span.appendChild(h("span", {class: "chip st-" + s, title: title}, n));
      if (labelled) {
        span.appendChild(document.createTextNode(" "));
        span.appendChild(h("span", {class: "chip-label"}, title));
      }
    }
    ["down", "unreachable", "unknown", "maintenance", "up"].forEach(function (s) {
      if (c[s]) chip(s, c[s], t("status_" + s));
    });
    if (failing) chip("degraded", failing, t("web_services_failing"));
    return span;
  }

  // As netwatch.i18n.level_key: a commune-level site is a Xã, Phường or Thị trấn by its name.
  // As netwatch.i18n.failure_text: the reason in the page's language, the probe's words on hover.
  function failureText(f) {
    if (!f) return "\u2013";
    var key = "failure_" + f.kind;
    if (lang === "en" || !Object.prototype.hasOwnProperty.call(T, key)) return f.kind + ": " + f.detail;
    var code = /\bHTTP (\d{3})\b/.exec(f.detail);
    return h("span", {title: f.detail}, T[key] + (code ? " (HTTP " + code[1] + ")" : ""));
  }

  // As netwatch.alerting.messages.detail_text: a failure's reason translated; the engine's
  // English notes (flapping count, digest tally) only on an English page.
  function detailText(kind, detail) {
    if (kind === "down" || kind === "service") {
      if (lang === "en") return detail;
      var re = /(?:^|(?<=: ))([a-z_]+): /g, m;
      while ((m = re.exec(detail)) !== null) {
        var key = "failure_" + m[1];
        if (!Object.prototype.hasOwnProperty.call(T, key)) continue;
        var code = /\bHTTP (\d{3})\b/.exec(detail.slice(re.lastIndex));
        var out = T[key] + (code ? " (HTTP " + code[1] + ")" : "");
        return m.index ? detail.slice(0, m.index - 2) + ": " + out : out;
      }
      return detail;
    }
    return lang === "en" && kind !== "digest" ? detail : "";
  }

  function levelText(level, name) {
    var key = "web_level_" + level;
    if (level === "commune" && name) {
      var n = name.trim().toLowerCase();
      if (n.indexOf("phường") === 0) key = "web_level_ward";
      else if (n.indexOf("thị trấn") === 0) key = "web_level_town";
    }
    return Object.prototype.hasOwnProperty.call(T, key) ? T[key] : level;
  }

  // Rows replace the table body; each cell gets its column name (the phone layout shows it).
  function fill(tbody, rows) {
    if (!tbody) return;
    var labels = Array.prototype.map.call(
      tbody.parentNode.querySelectorAll("thead th"), function (th) { return th.textContent; });
    clear(tbody);
    rows.forEach(function (cells) {
      var tr = h("tr");
      cells.forEach(function (c, i) { tr.appendChild(h("td", {"data-label": labels[i]}, c)); });
      tbody.appendChild(tr);
    });
  }

  function getJSON(url) {
    return fetch(url, {headers: {Accept: "application/json"}, credentials: "same-origin"})
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      });
  }

  function updated(ok) {
    var el = document.getElementById("updated");
    if (!el) return;
    var hms;
    try {  // the agent's clock, like every other time on the page
      hms = new Date().toLocaleTimeString("en-GB", {timeZone: tz, hour12: false});
    } catch (e) {
      hms = new Date().toTimeString().slice(0, 8);
    }
    el.textContent = ok ? t("web_updated").replace("{time}", hms) : t("web_refresh_failed");
    el.classList.toggle("stale", !ok);
  }

  // ------------------------------------------------------------------ the site tree

  function node(n) {
    var shown = n.degraded ? "degraded" : n.status;  // as views.display_state
    var li = h("li", {class: "node st-" + shown, "data-id": n.id,
                      "data-name": n.name.toLowerCase() + " " + n.id},
      h("div", {class: "row"},
        h("span", {class: "dot", "aria-hidden": "true"}),
        h("a", {class: "name", href: "/sites/" + encodeURIComponent(n.id)}, n.name),
        h("span", {class: "level"}, levelText(n.level, n.name)),
        badge(shown), counts(n.counts, false, n.services_failing)));
    if (n.children.length) {
      var ul = h("ul");
      n.children.forEach(function (c) { ul.appendChild(node(c)); });
      li.appendChild(ul);
    }
    return li;
  }

  function problem(li) {
    return !li.classList.contains("st-up") ||
      li.querySelector(":scope > .row .chip.st-down, :scope > .row .chip.st-unreachable") !== null;
  }

  // A site is shown when it matches, when a site below it matches, or when a site above it
  // matched the text (so searching a district shows its communes).
  function filterTree() {
    var q = (document.getElementById("q") || {}).value || "";
    q = q.trim().toLowerCase();
    var onlyProblems = (document.getElementById("problems") || {}).checked;
    function walk(li, parentMatched) {
      var textMatch = parentMatched || q === "" || li.dataset.name.indexOf(q) >= 0;
      var self = textMatch && (!onlyProblems || problem(li));
      var any = false;
      li.querySelectorAll(":scope > ul > li").forEach(function (c) {
        if (walk(c, textMatch && q !== "")) any = true;
      });
      li.hidden = !(self || any);
      return self || any;
    }
    document.querySelectorAll("#tree > li").forEach(function (li) { walk(li, false); });
  }

  var searchTimer = null;
  function searchDevices() {
    var q = document.getElementById("q").value.trim();
    var section = document.getElementById("found");
    var list = document.getElementById("found-list");
    var url = new URL(window.location.href);
    if (q) url.searchParams.set("q", q); else url.searchParams.delete("q");
    window.history.replaceState(null, "", url.toString());
    if (q.length < 2) { section.hidden = true; return; }
    getJSON("/api/v1/devices?limit=50&q=" + encodeURIComponent(q)).then(function (data) {
      clear(list);
      data.devices.forEach(function (d) {
        list.appendChild(h("li", null,
          h("a", {href: "/devices/" + encodeURIComponent(d.id)}, d.name), " ",
          badge(d.status), " ", h("small", null, d.site_name)));
      });
      section.hidden = data.devices.length === 0;
    }).catch(function () { section.hidden = true; });
  }

  function renderIndex(data) {
    var tree = document.getElementById("tree");
    clear(tree);
    var total = {}, failing = 0;
    data.sites.forEach(function (n) {
      tree.appendChild(node(n));
      Object.keys(n.counts).forEach(function (k) { total[k] = (total[k] || 0) + n.counts[k]; });
      failing += n.services_failing;
    });
    var summary = document.getElementById("summary");
    if (summary) { clear(summary).appendChild(counts(total, true, failing)); }
    filterTree();
  }

  // ------------------------------------------------------------------ devices

  function deviceRow(d) {
    return [
      h("a", {href: "/devices/" + encodeURIComponent(d.id)}, d.name),
      h("a", {href: "/sites/" + encodeURIComponent(d.site)}, d.site_name),
      badge(d.status), ms(d.rtt_seconds), pct(d.loss_ratio),
      d.cause ? h("a", {href: "/devices/" + encodeURIComponent(d.cause)}, d.cause) : ""
    ];
  }

  function renderSite(data) {
    fill(document.getElementById("devices"), data.devices.map(deviceRow));
  }

  // The same picture as netwatch.web.render.sparkline: SLOTS minutes ending at the newest
  // point, RTT as a line (broken by gaps), loss as red bars.
  function spark(points) {
    var width = 600, height = 80;
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "spark");
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("role", "img");
    if (!points.length) return svg;
    var times = points.map(function (p) { return Date.parse(p.at) / 1000; });
    var first = times[times.length - 1] - (SLOTS - 1) * 60;
    var step = width / SLOTS;
    var top = 0;
    points.forEach(function (p) { if (p.rtt_seconds !== null && p.rtt_seconds > top) top = p.rtt_seconds; });
    var d = [], previous = -2;
    points.forEach(function (p, k) {
      var slot = Math.round((times[k] - first) / 60);
      if (slot < 0) return;
      var x = slot * step;
      if (p.loss_ratio > 0) {
        var bh = Math.max(1, p.loss_ratio * height);
        var r = document.createElementNS(SVG, "rect");
        r.setAttribute("class", "loss");
        r.setAttribute("x", x.toFixed(1));
        r.setAttribute("y", (height - bh).toFixed(1));
        r.setAttribute("width", step.toFixed(2));
        r.setAttribute("height", bh.toFixed(1));
        svg.appendChild(r);
      }
      if (p.rtt_seconds === null || top <= 0) return;
      var y = height - 2 - (p.rtt_seconds / top) * (height - 4);
      var xy = (x + step / 2).toFixed(1) + " " + y.toFixed(1);
      d.push(slot === previous + 1 ? "L" + xy : "M" + xy + " h0");
      previous = slot;
    });
    if (d.length) {
      var path = document.createElementNS(SVG, "path");
      path.setAttribute("class", "rtt");
      path.setAttribute("d", d.join(" "));
      svg.appendChild(path);
    }
    return svg;
  }

  function stats(pairs) {
    var dl = h("dl", {class: "stats"});
    pairs.forEach(function (p) { dl.appendChild(h("dt", null, p[0])); dl.appendChild(h("dd", null, p[1])); });
    return dl;
  }

  function renderDevice(d) {
    var status = document.getElementById("device-status");
    if (status) clear(status).appendChild(badge(d.status));
    fill(document.getElementById("checks"), d.checks.map(function (c) {
      var result = c.ok ? t("web_ok") : failureText(c.failure);
      return [c.name, badge(checkState(c.name, c.status)), when(c.last_at), result, ms(c.duration_seconds)];
    }));
    var icmp = document.getElementById("icmp");
    if (icmp) {
      clear(icmp);
      var s = d.icmp;
      icmp.appendChild(s === null ? h("p", null, t("web_no_data")) : stats([
        [t("web_rtt"), s.rtt_avg_seconds === null ? "\u2013" :
          ms(s.rtt_avg_seconds) + " (" + ms(s.rtt_min_seconds) + " \u2013 " + ms(s.rtt_max_seconds) + ")"],
        [t("web_loss"), pct(s.loss_ratio) + " (" + s.received + "/" + s.sent + ")"],
        [t("web_jitter"), ms(s.jitter_seconds)],
        [t("web_last"), when(s.at)]
      ]));
    }
    var sp = document.getElementById("spark");
    if (sp) clear(sp).appendChild(spark(d.icmp_recent));
    fill(document.getElementById("interfaces"), d.interfaces.map(function (i) {
      var name = h("span", null, i.name);
      if (i.alias) { name.appendChild(document.createTextNode(" ")); name.appendChild(h("small", null, i.alias)); }
      return [name, badge(i.oper_up ? "up" : "down"), bits(i.speed_bps), bits(i.receive_bps),
              bits(i.transmit_bps), i.errors === null ? "\u2013" : i.errors];
    }));
    fill(document.getElementById("transitions"), d.transitions.map(function (x) {
      return [when(x.at), badge(x.status), x.cause || ""];
    }));
  }

  // ------------------------------------------------------------------ alerts

  function message(text, ok) {
    var el = document.getElementById("message");
    if (!el) return;
    el.textContent = text;
    el.className = ok ? "ok" : "error";
  }

  function send(method, url, payload) {
    var token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) { message(t("web_token_missing"), false); return Promise.resolve(false); }
    return fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: {"Authorization": "Bearer " + token, "Content-Type": "application/json"},
      body: payload === undefined ? undefined : JSON.stringify(payload)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (r.ok) { message(t("web_action_ok"), true); refresh(); return true; }
        message(t("web_action_failed", data.error || ("HTTP " + r.status)), false);
        return false;
      });
    }).catch(function (err) { message(t("web_action_failed", String(err)), false); return false; });
  }

  function who() { return sessionStorage.getItem(WHO_KEY) || "web"; }

  function silenceChoice() {
    var select = h("select", {class: "silence-for", "aria-label": t("web_silence")});
    [["1h", t("hours", 1)], ["4h", t("hours", 4)], ["1d", t("days", 1)]].forEach(function (o) {
      select.appendChild(h("option", {value: o[0]}, o[1]));
    });
    return select;
  }

  function alertActions(a) {
    var cell = h("span", {class: "actions"});
    if (a.acknowledged_by) {
      cell.appendChild(h("span", {class: "acked"}, t("web_acked_by", a.acknowledged_by)));
    } else {
      cell.appendChild(h("button", {type: "button", class: "ack", "data-id": a.id}, t("web_ack")));
    }
    cell.appendChild(silenceChoice());
    cell.appendChild(h("button", {type: "button", class: "silence", "data-device": a.subject}, t("web_silence")));
    return cell;
  }

  function renderAlerts(data) {
    fill(document.getElementById("alerts"), data.alerts.map(function (a) {
      var kind = {down: "down", flapping: "flapping", service: "service_down", cert: "cert"}[a.kind] || "down";
      var who = h("span", null, h("a", {href: "/devices/" + encodeURIComponent(a.subject)}, a.device_name || a.subject),
                  h("br"), h("small", null, a.site_name));
      var what = a.digest_only ? h("span", {class: "digest"}, t("web_digest_item")) : t(kind);
      return [h("span", {class: "sev sev-" + a.severity}, t("severity_" + a.severity)), what, who,
              detailText(a.kind, a.detail), when(a.started_at), alertActions(a)];
    }));
    var none = document.getElementById("no-alerts");
    if (none) none.hidden = data.alerts.length > 0;
    return getJSON("/api/v1/silences").then(function (s) {
      fill(document.getElementById("silences"), s.silences.map(function (x) {
        return [x.devices.concat(x.sites).join(", "), when(x.until), x.by, x.comment,
                h("button", {type: "button", class: "unsilence", "data-id": x.id}, t("web_remove"))];
      }));
    });
  }

  function setupAlerts() {
    var tokenInput = document.getElementById("token");
    var whoInput = document.getElementById("who");
    whoInput.value = sessionStorage.getItem(WHO_KEY) || "";
    document.getElementById("token-form").addEventListener("submit", function (ev) {
      ev.preventDefault();  // the token never goes into a URL
      document.getElementById("token-save").click();
    });
    if (sessionStorage.getItem(TOKEN_KEY)) message(t("web_token_saved"), true);
    document.getElementById("token-save").addEventListener("click", function () {
      if (tokenInput.value) sessionStorage.setItem(TOKEN_KEY, tokenInput.value);
      if (whoInput.value.trim()) sessionStorage.setItem(WHO_KEY, whoInput.value.trim());
      tokenInput.value = "";
      message(sessionStorage.getItem(TOKEN_KEY) ? t("web_token_saved") : t("web_token_missing"),
              !!sessionStorage.getItem(TOKEN_KEY));
    });
    document.getElementById("token-clear").addEventListener("click", function () {
      sessionStorage.removeItem(TOKEN_KEY);
      tokenInput.value = "";
      message(t("web_token_missing"), false);
    });
    document.querySelector("main").addEventListener("click", function (ev) {
      var b = ev.target.closest("button");
      if (!b) return;
      if (b.classList.contains("ack")) {
        send("POST", "/api/v1/alerts/" + encodeURIComponent(b.dataset.id) + "/ack", {by: who()});
      } else if (b.classList.contains("silence")) {
        var choice = b.parentNode.querySelector(".silence-for");
        send("POST", "/api/v1/silences", {devices: [b.dataset.device], duration: choice ? choice.value : "1h", by: who()});
      } else if (b.classList.contains("unsilence")) {
        send("DELETE", "/api/v1/silences/" + encodeURIComponent(b.dataset.id));
      }
    });
  }

  // ------------------------------------------------------------------ refresh

  var renderers = {index: renderIndex, site: renderSite, device: renderDevice, alerts: renderAlerts};
  var busy = false;
  var again = false;  // asked while a refresh was in flight: its data may predate the ask

  function refresh() {
    var render = renderers[page];
    if (!render || !api) return;
    if (busy) { again = true; return; }
    busy = true;
    getJSON(api).then(render).then(function () { updated(true); })
      .catch(function () { updated(false); })
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  if (page === "index") {
    var q = document.getElementById("q");
    var initial = new URL(window.location.href).searchParams.get("q");
    if (initial) q.value = initial;
    q.addEventListener("input", function () {
      filterTree();
      clearTimeout(searchTimer);
      searchTimer = setTimeout(searchDevices, 300);
    });
    document.getElementById("problems").addEventListener("change", filterTree);
    document.getElementById("filters").addEventListener("submit", function (ev) {
      ev.preventDefault();  // filtering is live; Enter must not reload the page
    });
    filterTree();
    if (initial) searchDevices();
  }
  if (page === "alerts") setupAlerts();
  if (renderers[page]) {
    refresh();
    setInterval(refresh, refreshSeconds * 1000);
  }
})();
