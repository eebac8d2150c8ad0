/* The issue editor's helpers: a small toolbar over each Markdown text area (bold, italic, link, list), a
   photo's size checked before it is sent, a row added to a facts table, and a word before leaving with unsaved
   changes. The form works the same without this file. */
(function () {
  "use strict";
  var form = document.getElementById("edit");
  if (!form) { return; }
  var t = form.dataset;

  function wrap(area, before, after, placeholder) {
    var start = area.selectionStart, end = area.selectionEnd;
    var chosen = area.value.slice(start, end) || placeholder;
    area.setRangeText(before + chosen + after, start, end, "end");
    area.setSelectionRange(start + before.length, start + before.length + chosen.length);
    area.focus();
    area.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function link(area) {
    var start = area.selectionStart, end = area.selectionEnd;
    var words = area.value.slice(start, end) || t.link;
    var text = "[" + words + "](https://)";
    area.setRangeText(text, start, end, "end");
    var at = start + text.length - 9;  // select "https://" for the address to be typed over it
    area.setSelectionRange(at, at + 8);
    area.focus();
    area.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function list(area) {
    var value = area.value;
    var start = value.lastIndexOf("\n", area.selectionStart - 1) + 1;
    var end = area.selectionEnd;
    var lines = value.slice(start, end).split("\n").map(function (line) {
      return /^\s*([-*+]|\d+\.)\s/.test(line) ? line : "- " + line;
    });
    var text = lines.join("\n");
    area.setRangeText(text, start, end, "end");
    area.focus();
    area.dispatchEvent(new Event("input", { bubbles: true }));
  }

  var actions = {
    bold: function (a) { wrap(a, "**", "**", t.bold); },
    italic: function (a) { wrap(a, "*", "*", t.italic); },
    link: link,
    list: list
  };

  Array.prototype.forEach.call(form.querySelectorAll("textarea[data-toolbar]"), function (area) {
    var bar = document.createElement("div");
    bar.className = "toolbar";
    bar.setAttribute("role", "toolbar");
    bar.setAttribute("aria-label", t.toolbarLabel);
    bar.setAttribute("aria-controls", area.id);
    Object.keys(actions).forEach(function (name) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "secondary small";
      button.textContent = t[name];
      button.addEventListener("click", function () { actions[name](area); });
      bar.appendChild(button);
    });
    area.parentNode.insertBefore(bar, area);
    area.addEventListener("keydown", function (e) {
      if (!(e.ctrlKey || e.metaKey)) { return; }
      if (e.key === "b") { e.preventDefault(); actions.bold(area); }
      if (e.key === "i") { e.preventDefault(); actions.italic(area); }
    });
  });

  var max = parseInt(t.maxBytes, 10);
  Array.prototype.forEach.call(form.querySelectorAll("input[type=file]"), function (input) {
    input.addEventListener("change", function () {
      var said = document.getElementById(input.id + "-size");
      var file = input.files && input.files[0];
      if (file && file.size > max) {
        if (said) { said.textContent = t.tooBig.replace("{size}", (file.size / 1e6).toFixed(1)); }
        input.value = "";
      } else if (said) {
        said.textContent = "";
      }
    });
  });

  Array.prototype.forEach.call(form.querySelectorAll("fieldset[data-rows]"), function (set) {
    var body = set.querySelector("tbody");
    var button = document.createElement("button");
    button.type = "button";
    button.className = "secondary small";
    button.textContent = t.addRow;
    button.addEventListener("click", function () {
      var last = body.rows[body.rows.length - 1];
      var row = last.cloneNode(true);
      var n = body.rows.length + 1;
      Array.prototype.forEach.call(row.querySelectorAll("input"), function (input) {
        input.value = "";
        input.id = input.id.replace(/-([lv])\d+$/, "-$1" + n);
      });
      Array.prototype.forEach.call(row.querySelectorAll("label"), function (label) {
        label.htmlFor = label.htmlFor.replace(/-([lv])\d+$/, "-$1" + n);
        label.textContent = label.textContent.replace(/\d+$/, String(n));
      });
      body.appendChild(row);
      row.querySelector("input").focus();
    });
    set.querySelector("table").insertAdjacentElement("afterend", button);
  });

  var dirty = false;
  form.addEventListener("input", function () { dirty = true; });
  form.addEventListener("change", function () { dirty = true; });
  form.addEventListener("submit", function () { dirty = false; });
  window.addEventListener("beforeunload", function (e) {
    if (dirty) { e.preventDefault(); e.returnValue = t.unsaved; }
  });
}());
