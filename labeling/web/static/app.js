// The labeling page (/) and the adjudication page (/adjudicate) of `qinglang label serve`.
// Plain script, no build step: the server is the only state. Every answer is POSTed the
// moment it is given, and the item on screen always comes from the server, so a reload or
// a restarted server resumes where the labeler stopped. Only the name is kept locally.
"use strict";

(() => {
  const LABELER_KEY = "qinglang.labeler";
  const ADJUDICATOR_KEY = "qinglang.adjudicator";
  const KIND_NAMES = { title: "标题 title", post: "帖子 post", comment: "评论 comment" };
  const S = {
    config: null,
    taxonomy: null,
    name: null,
    item: null,
    selected: new Set(),
    buttons: new Map(), // category key -> its toggle on the labeling page
    byShortcut: new Map(), // key pressed -> category key
    busy: false,
  };

  const $ = (selector) => document.querySelector(selector);

  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === "dataset") Object.assign(node.dataset, value);
      else if (key in node) node[key] = value;
      else node.setAttribute(key, value);
    }
    node.append(...children.filter((c) => c !== null && c !== undefined));
    return node;
  }

  function setState(state) {
    document.body.dataset.state = state;
  }

  function showError(message) {
    const box = $("#error");
    box.textContent = message || "";
    box.hidden = !message;
  }

  function showNotice(message) {
    const box = $("#notice");
    box.textContent = message || "";
    box.hidden = !message;
  }

  async function api(method, path, body) {
    const options = { method, headers: { Accept: "application/json" } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, options);
    } catch (err) {
      throw new Error(`服务器无响应，答案未保存 The server did not answer; nothing was saved (${err.message}). Try again.`);
    }
    let data = null;
    try {
      data = await response.json();
    } catch (err) {
      data = null;
    }
    if (!response.ok) {
      const message = data && data.error ? data.error : `HTTP ${response.status}`;
      throw new Error(`错误 Error ${response.status}: ${message}`);
    }
    return data;
  }

  // -- names ------------------------------------------------------------------------
  function storedName(param, storageKey) {
    const fromUrl = (new URL(window.location.href).searchParams.get(param) || "").trim();
    try {
      if (fromUrl) localStorage.setItem(storageKey, fromUrl);
      return fromUrl || (localStorage.getItem(storageKey) || "").trim() || null;
    } catch (err) {
      return fromUrl || null; // storage disabled: the URL still works
    }
  }

  function forgetName(param, storageKey) {
    try {
      localStorage.removeItem(storageKey);
    } catch (err) {
      /* storage disabled */
    }
    const url = new URL(window.location.href);
    url.searchParams.delete(param);
    window.location.replace(url.toString());
  }

  function askName(storageKey, prompt, onName) {
    const form = $("#who");
    const input = $("#name-input");
    $("#name-prompt").textContent = prompt;
    form.hidden = false;
    setState("name");
    input.focus();
    form.onsubmit = (event) => {
      event.preventDefault();
      const name = input.value.trim();
      if (!name) return;
      try {
        localStorage.setItem(storageKey, name);
      } catch (err) {
        /* storage disabled: the name lasts for this page */
      }
      input.blur(); // the shortcuts listen on the page, not in the name field
      form.hidden = true;
      onName(name);
    };
  }

  function showWho(name, role, changeable, onChange) {
    $("#who-label").textContent = role;
    $("#name").textContent = name;
    $("#whoami").hidden = false;
    const change = $("#change-name");
    change.hidden = !changeable;
    change.onclick = onChange;
  }

  // -- category toggles -------------------------------------------------------------
  function categoryButton(cat, compact) {
    const title = cat.definition + (cat.not ? `\n不包括 Not: ${cat.not}` : "");
    return el(
      "button",
      { type: "button", className: "cat", title, dataset: { key: cat.key, group: cat.group }, "aria-pressed": "false" },
      cat.shortcut && !compact ? el("kbd", { className: "shortcut" }, cat.shortcut) : null,
      el("span", { className: "name-zh" }, cat.name_zh),
      el("code", { className: "key" }, cat.key),
      compact ? null : el("span", { className: "definition" }, cat.definition),
    );
  }

  // The taxonomy's categories as toggles, grouped (low-value, harmful); key -> button.
  function categoryToggles(container, compact, applies) {
    const buttons = new Map();
    for (const group of S.taxonomy.groups) {
      const cats = S.taxonomy.categories.filter((c) => c.group === group.key);
      if (!cats.length) continue;
      const box = el("fieldset", { className: "group", dataset: { group: group.key } });
      box.append(el("legend", {}, `${group.name_zh} ${group.key}`));
      for (const cat of cats) {
        const button = categoryButton(cat, compact);
        button.disabled = applies ? !applies.includes(cat.key) : false;
        buttons.set(cat.key, button);
        box.append(button);
      }
      container.append(box);
    }
    return buttons;
  }

  function press(button, on) {
    button.setAttribute("aria-pressed", on ? "true" : "false");
    button.classList.toggle("on", on);
  }

  function inTaxonomyOrder(keys) {
    return S.taxonomy.categories.map((c) => c.key).filter((k) => keys.has(k));
  }

  // -- labeling ---------------------------------------------------------------------
  function renderProgress(progress) {
    const box = $("#progress");
    box.dataset.done = progress.done;
    box.dataset.total = progress.total;
    $("#progress-text").textContent = `${progress.done} / ${progress.total}`;
    $("#progress-fill").style.width = `${progress.total ? (100 * progress.done) / progress.total : 0}%`;
  }

  function renderView(view) {
    S.item = view.item;
    renderProgress(view.progress);
    $("#work").hidden = !view.item;
    $("#finished").hidden = Boolean(view.item);
    if (!view.item) {
      setState("finished");
      return;
    }
    const item = view.item;
    const text = $("#text");
    text.textContent = item.text;
    text.dataset.itemId = item.item_id;
    $("#item-id").textContent = item.item_id;
    $("#kind").textContent = KIND_NAMES[item.kind] || item.kind;
    $("#redo").hidden = !view.undone;
    S.selected = new Set(item.labels);
    for (const [key, button] of S.buttons) {
      button.disabled = !item.applies.includes(key);
      press(button, S.selected.has(key));
    }
    setState("ready");
  }

  function toggle(key) {
    const button = S.buttons.get(key);
    if (!S.item || S.busy || !button || button.disabled) return;
    if (S.selected.has(key)) S.selected.delete(key);
    else S.selected.add(key);
    press(button, S.selected.has(key));
  }

  async function send(path, body, after) {
    if (S.busy) return;
    S.busy = true;
    setState("busy");
    try {
      const view = await api("POST", path, body);
      S.busy = false;
      showError("");
      showNotice(after ? after(view) : "");
      renderView(view);
    } catch (err) {
      S.busy = false;
      showError(err.message);
      setState(S.item ? "ready" : "finished");
    }
  }

  function save(skipped) {
    if (!S.item) return;
    const labels = skipped ? [] : inTaxonomyOrder(S.selected);
    send("api/answer", { item_id: S.item.item_id, labeler: S.name, labels, skipped });
  }

  function undo() {
    send("api/undo", { labeler: S.name }, (view) => (view.undone ? "" : "没有可撤销的答案 Nothing to undo."));
  }

  function onKey(event) {
    const target = event.target;
    if (event.isComposing || (target && target.closest && target.closest("input, textarea, select"))) return;
    const key = event.key;
    if ((event.ctrlKey || event.metaKey) && !event.altKey && key.toLowerCase() === "z") {
      event.preventDefault();
      undo();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (S.byShortcut.has(key)) {
      event.preventDefault();
      toggle(S.byShortcut.get(key));
    } else if (key === "Enter") {
      event.preventDefault(); // not also a click on a focused button
      save(false);
    } else if (key === "s" || key === "S") {
      event.preventDefault();
      save(true);
    } else if (key === "u" || key === "U") {
      event.preventDefault();
      undo();
    }
  }

  async function labelAs(name) {
    S.name = name;
    showWho(name, "标注员 labeler", !S.config.labeler, () => forgetName("labeler", LABELER_KEY));
    $("#label-view").hidden = false;
    if (!S.buttons.size) {
      S.buttons = categoryToggles($("#categories"), false, null);
      for (const [key, button] of S.buttons) button.addEventListener("click", () => toggle(key));
      $("#save").addEventListener("click", () => save(false));
      $("#skip").addEventListener("click", () => save(true));
      $("#undo").addEventListener("click", undo);
      $("#undo-finished").addEventListener("click", undo);
      document.addEventListener("keydown", onKey);
    }
    try {
      renderView(await api("GET", `api/next?labeler=${encodeURIComponent(name)}`));
      showError("");
    } catch (err) {
      showError(err.message);
      setState("error");
    }
  }

  function startLabeling() {
    const name = S.config.labeler || storedName("labeler", LABELER_KEY);
    if (name) labelAs(name);
    else askName(LABELER_KEY, "你的名字 Your name", labelAs);
  }

  // -- adjudication -----------------------------------------------------------------
  function labelNames(labels) {
    if (!labels.length) return "（无 none）";
    const names = new Map(S.taxonomy.categories.map((c) => [c.key, `${c.name_zh} ${c.key}`]));
    return labels.map((k) => names.get(k) || k).join("、");
  }

  function startingLabels(item) {
    if (item.adjudication) return new Set(item.adjudication.labels);
    const [first, ...rest] = item.answers.map((a) => a.labels);
    return new Set((first || []).filter((k) => rest.every((labels) => labels.includes(k)))); // all agree on these
  }

  function disagreementCard(item) {
    const applies = S.taxonomy.categories.filter((c) => c.kinds.includes(item.kind)).map((c) => c.key);
    const card = el("article", { className: "disagreement", dataset: { itemId: item.item_id } });
    const status = el("p", { className: "status" });
    const answers = el("ul", { className: "answers" });
    for (const a of item.answers) {
      answers.append(el("li", { className: "answer", dataset: { labeler: a.labeler } }, el("strong", {}, a.labeler), `: ${labelNames(a.labels)}`));
    }
    const toggles = el("div", { className: "toggles" });
    const buttons = categoryToggles(toggles, true, applies);
    const chosen = startingLabels(item);
    for (const [key, button] of buttons) {
      press(button, chosen.has(key));
      button.addEventListener("click", () => {
        if (chosen.has(key)) chosen.delete(key);
        else chosen.add(key);
        press(button, chosen.has(key));
      });
    }
    const settle = el("button", { type: "button", className: "settle primary" }, "裁定 Settle");
    settle.addEventListener("click", () => settleItem(item, chosen, card, status));
    card.append(
      el("p", { className: "meta" }, el("span", { className: "kind" }, KIND_NAMES[item.kind] || item.kind), " ", el("code", {}, item.item_id)),
      el("p", { className: "dtext", lang: "zh" }, item.text),
      answers,
      toggles,
      el("div", { className: "actions" }, settle, status),
    );
    markSettled(card, status, item.adjudication);
    return card;
  }

  function markSettled(card, status, adjudication) {
    card.dataset.settled = adjudication ? "true" : "false";
    status.textContent = adjudication ? `已裁定 Settled by ${adjudication.adjudicator}: ${labelNames(adjudication.labels)}` : "";
  }

  async function settleItem(item, chosen, card, status) {
    const body = { item_id: item.item_id, labels: inTaxonomyOrder(chosen), adjudicator: S.name };
    try {
      const result = await api("POST", "api/adjudicate", body);
      showError("");
      markSettled(card, status, result);
      updateSummary();
    } catch (err) {
      showError(err.message);
    }
  }

  function updateSummary() {
    const cards = document.querySelectorAll(".disagreement");
    const settled = document.querySelectorAll('.disagreement[data-settled="true"]');
    $("#adjudicate-summary").textContent = cards.length
      ? `${cards.length} 条分歧 disagreements, ${settled.length} 已裁定 settled`
      : "没有分歧 No disagreements: every item answered by two or more labelers got the same labels.";
  }

  async function adjudicateAs(name) {
    S.name = name;
    showWho(name, "裁定人 adjudicator", true, () => forgetName("adjudicator", ADJUDICATOR_KEY));
    try {
      const data = await api("GET", `api/disagreements?adjudicator=${encodeURIComponent(name)}`);
      $("#disagreements").replaceChildren(...data.items.map(disagreementCard));
      updateSummary();
      showError("");
      setState("ready");
    } catch (err) {
      showError(err.message);
      setState("error");
    }
  }

  function startAdjudication() {
    $("#mode-title").textContent = "裁定 adjudication";
    document.title = "清朗 adjudication";
    $("#adjudicate-view").hidden = false;
    if (S.config.adjudication === "off") {
      $("#adjudicate-off").hidden = false;
      setState("off");
      return;
    }
    const name = storedName("adjudicator", ADJUDICATOR_KEY);
    if (name) adjudicateAs(name);
    else askName(ADJUDICATOR_KEY, "裁定人 Adjudicator's name", adjudicateAs);
  }

  async function main() {
    try {
      [S.config, S.taxonomy] = await Promise.all([api("GET", "api/config"), api("GET", "api/taxonomy")]);
    } catch (err) {
      showError(err.message);
      setState("error");
      return;
    }
    S.byShortcut = new Map(S.taxonomy.categories.filter((c) => c.shortcut).map((c) => [c.shortcut, c.key]));
    if (window.location.pathname.replace(/\/+$/, "").endsWith("/adjudicate")) startAdjudication();
    else startLabeling();
  }

  document.addEventListener("DOMContentLoaded", main);
})();
