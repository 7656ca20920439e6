/*
 * Click-to-uncover 2AFC facial expression experiment (ferattention.experiment).
 *
 * Reads window.FER_CONFIG (config.js) and window.FER_TRIALS (trials.js), runs
 * welcome -> instructions -> practice (with feedback) -> main trials -> done, and saves the two
 * CSV files of the workflow's click-log format (docs/design.md §4.4):
 *   <id>_trials.csv: participant_id,trial_id,image_id,option_a,option_b,response,rt_ms,
 *                    stimulus_width,stimulus_height
 *   <id>_clicks.csv: participant_id,trial_id,click_index,x,y,t_ms
 * x, y are pixels of the stimulus (origin top-left) whatever size the page shows it at; t_ms is
 * the time since trial onset, rt_ms the time of the answer. Practice trials are not saved.
 *
 * Plain browser JavaScript, no libraries and no network access (except the optional POST).
 * window.ferExperiment exposes the state and a few functions, for the automated test.
 */
(function () {
  "use strict";

  const CONFIG = window.FER_CONFIG;
  const TRIALS = window.FER_TRIALS;
  const ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
  const URL_ID_PARAMETERS = ["participant_id", "PROLIFIC_PID", "workerId"];
  const FEEDBACK_MS = 1500;

  const state = {
    phase: "loading",
    participantId: null,
    trialNumber: 0,        // 1-based number of the current trial within its block
    trialCount: 0,
    practice: false,
    current: null,         // the trial on screen
    awaitingResponse: false,
    data: null,            // {trials, clicks}: the CSV texts, once finished
    post: null,            // null | "sending" | "sent" | "failed"
  };

  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------- randomisation

  /** 32-bit FNV-1a hash of a string: the seed of a participant's random draws. */
  function hashString(text) {
    let hash = 0x811c9dc5;
    for (const ch of text) {
      hash ^= ch.codePointAt(0);
      hash = Math.imul(hash, 0x01000193) >>> 0;
    }
    return hash >>> 0;
  }

  /** Mulberry32: a small seeded generator of floats in [0, 1). */
  function seededRandom(seed) {
    let a = seed >>> 0;
    return function () {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  /** Fisher-Yates shuffle of a copy. */
  function shuffled(items, random) {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
  }

  /**
   * A participant's session, a deterministic function of the participant id: the images in
   * random order (the first images_per_participant of them), each in one of its trials, with the
   * two options on random sides (option_a is the left button); the practice trials likewise.
   */
  function planSession(participantId) {
    const random = seededRandom(hashString("ferattention:" + participantId));
    const sides = (a, b) => (random() < 0.5 ? [a, b] : [b, a]);
    let images = shuffled(TRIALS.main, random);
    if (CONFIG.images_per_participant) images = images.slice(0, CONFIG.images_per_participant);
    const main = images.map((image) => {
      const trial = image.trials[Math.floor(random() * image.trials.length)];
      const [a, b] = sides(trial.option_a, trial.option_b);
      return { trial_id: trial.trial_id, image_id: image.image_id, image: image.image,
               hidden: image.hidden, option_a: a, option_b: b };
    });
    const practice = shuffled(TRIALS.practice, random).map((item, k) => {
      const [a, b] = sides(item.option_a, item.option_b);
      return { trial_id: "practice-" + (k + 1), image_id: item.image_id, image: item.image,
               hidden: item.hidden, option_a: a, option_b: b, label: item.label };
    });
    return { practice, main };
  }

  // ---------------------------------------------------------------- screens and helpers

  function show(name) {
    for (const section of document.querySelectorAll(".screen")) {
      section.hidden = section.id !== "screen-" + name;
    }
    state.phase = name;
    document.body.dataset.phase = name;
    window.scrollTo(0, 0);
  }

  function fail(message) {
    state.awaitingResponse = false;
    $("error-text").textContent = message;
    show("error");
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  /** Resolve when the button is clicked (once). */
  function clicked(button) {
    return new Promise((resolve) => button.addEventListener("click", resolve, { once: true }));
  }

  function loadImage(src) {
    return new Promise((resolve, reject) => {
      const image = new Image();
      image.onload = () => resolve(image);
      image.onerror = () => reject(new Error("cannot load the image " + src));
      image.src = src;
    });
  }

  function capitalise(name) {
    return name.charAt(0).toUpperCase() + name.slice(1);
  }

  function keyLabel(key) {
    return key === " " ? "Space" : key.toUpperCase();
  }

  function warnBeforeLeaving(event) {
    event.preventDefault();
    event.returnValue = "";   // older browsers need a value to show the dialog
  }

  // ---------------------------------------------------------------- one trial

  /** The hidden face: the blurred stimulus, or a uniform field. */
  function drawHidden(context, hidden) {
    const { width, height } = context.canvas;
    if (hidden) {
      context.drawImage(hidden, 0, 0, width, height);
    } else {
      context.fillStyle = CONFIG.mask_color;
      context.fillRect(0, 0, width, height);
    }
  }

  /** Uncover the disk of reveal_radius stimulus pixels around (x, y). */
  function reveal(context, image, x, y) {
    const { width, height } = context.canvas;
    context.save();
    context.beginPath();
    context.arc(x, y, CONFIG.reveal_radius, 0, 2 * Math.PI);
    context.clip();
    context.drawImage(image, 0, 0, width, height);
    context.restore();
  }

  /**
   * Position of a pointer event in stimulus pixels. The canvas has no border or padding, so its
   * bounding box is the stimulus as shown, whatever CSS scaling applies.
   */
  function stimulusPosition(canvas, event) {
    const box = canvas.getBoundingClientRect();
    const clamp = (v, hi) => Math.min(Math.max(v, 0), hi);
    return {
      x: clamp((event.clientX - box.left) * canvas.width / box.width, canvas.width),
      y: clamp((event.clientY - box.top) * canvas.height / box.height, canvas.height),
    };
  }

  /**
   * Show one trial; resolve with {response, rt_ms, clicks} when the participant answers.
   * Clicks are {click_index (from 1), x, y, t_ms}.
   */
  async function runTrial(trial) {
    const [image, hidden] = await Promise.all(
      [loadImage(trial.image), trial.hidden ? loadImage(trial.hidden) : null]);
    const canvas = $("stimulus");
    const context = canvas.getContext("2d");
    canvas.width = CONFIG.stimulus_width;
    canvas.height = CONFIG.stimulus_height;
    drawHidden(context, hidden);

    const buttons = [$("choice-a"), $("choice-b")];
    const options = [trial.option_a, trial.option_b];
    buttons.forEach((button, k) => {
      button.textContent = capitalise(options[k]) + " ";
      const kbd = document.createElement("kbd");
      kbd.textContent = keyLabel(CONFIG.response_keys[k]);
      button.appendChild(kbd);
    });
    state.current = trial;

    await new Promise((resolve) => requestAnimationFrame(resolve));
    const onset = performance.now();
    const clicks = [];
    const listeners = new AbortController();
    buttons.forEach((button) => { button.disabled = false; });
    state.awaitingResponse = true;

    return new Promise((resolve) => {
      const answer = (k) => {
        if (!state.awaitingResponse) return;
        const rt = performance.now() - onset;
        state.awaitingResponse = false;
        listeners.abort();
        buttons.forEach((button) => { button.disabled = true; });
        if (document.activeElement) document.activeElement.blur();
        resolve({ response: options[k], rt_ms: rt, clicks, image });
      };
      canvas.addEventListener("pointerdown", (event) => {
        if (!state.awaitingResponse || event.button !== 0) return;
        event.preventDefault();
        const t = performance.now() - onset;
        const { x, y } = stimulusPosition(canvas, event);
        clicks.push({ click_index: clicks.length + 1, x, y, t_ms: t });
        reveal(context, image, x, y);
      }, { signal: listeners.signal });
      buttons.forEach((button, k) => {
        button.addEventListener("click", () => answer(k), { signal: listeners.signal });
      });
      document.addEventListener("keydown", (event) => {
        if (event.repeat || event.ctrlKey || event.metaKey || event.altKey) return;
        const k = CONFIG.response_keys.indexOf(event.key.toLowerCase());
        if (k >= 0) {
          event.preventDefault();
          answer(k);
        }
      }, { signal: listeners.signal });
    });
  }

  function setProgress(label, number, count) {
    state.trialNumber = number;
    state.trialCount = count;
    $("progress-text").textContent = label + " " + number + " of " + count;
    $("progress-bar").max = count;
    $("progress-bar").value = number - 1;
  }

  function clearTrial() {
    const canvas = $("stimulus");
    canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
    for (const button of [$("choice-a"), $("choice-b")]) button.textContent = "\u00a0";
    $("feedback").textContent = "";
    $("feedback").className = "";
    state.current = null;
  }

  /** Run a block of trials; return one record per trial (with its clicks). */
  async function runBlock(trials, practice) {
    const records = [];
    state.practice = practice;
    show("trial");
    for (let n = 0; n < trials.length; n++) {
      const trial = trials[n];
      clearTrial();
      setProgress(practice ? "Practice" : "Trial", n + 1, trials.length);
      await sleep(CONFIG.iti_ms);
      const result = await runTrial(trial);
      records.push({ trial, ...result });
      if (practice) {
        const correct = result.response === trial.label;
        const canvas = $("stimulus");
        canvas.getContext("2d").drawImage(result.image, 0, 0, canvas.width, canvas.height);
        $("feedback").textContent = correct ? "Correct!"
          : "Not quite: this face shows " + trial.label + ".";
        $("feedback").className = correct ? "correct" : "wrong";
        await sleep(FEEDBACK_MS);
      }
    }
    $("progress-bar").value = trials.length;
    clearTrial();
    return records;
  }

  // ---------------------------------------------------------------- data

  function csvCell(value) {
    const text = String(value);
    return /[",\r\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }

  function toCsv(columns, rows) {
    const lines = [columns, ...rows.map((row) => columns.map((column) => row[column]))];
    return lines.map((cells) => cells.map(csvCell).join(",")).join("\n") + "\n";
  }

  const round2 = (value) => Math.round(value * 100) / 100;

  /** The two CSV texts of a finished session. */
  function sessionCsv(participantId, records) {
    const trials = [];
    const clicks = [];
    for (const { trial, response, rt_ms: rt, clicks: trialClicks } of records) {
      const key = { participant_id: participantId, trial_id: trial.trial_id };
      trials.push({ ...key, image_id: trial.image_id, option_a: trial.option_a,
                    option_b: trial.option_b, response, rt_ms: Math.round(rt),
                    stimulus_width: CONFIG.stimulus_width,
                    stimulus_height: CONFIG.stimulus_height });
      for (const click of trialClicks) {
        clicks.push({ ...key, click_index: click.click_index, x: round2(click.x),
                      y: round2(click.y), t_ms: Math.round(click.t_ms) });
      }
    }
    return { trials: toCsv(CONFIG.trial_columns, trials),
             clicks: toCsv(CONFIG.click_columns, clicks) };
  }

  function download(filename, text) {
    const url = URL.createObjectURL(new Blob([text], { type: "text/csv;charset=utf-8" }));
    const link = document.createElement("a");
    link.href = url;
    link.download = filename;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  }

  /** POST {participant_id, trials_csv, clicks_csv} as JSON to CONFIG.post_url. */
  async function send(participantId, data) {
    const status = $("post-status");
    status.hidden = false;
    $("post-retry").hidden = true;
    state.post = "sending";
    status.textContent = "Sending your answers\u2026";
    try {
      const response = await fetch(CONFIG.post_url, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ participant_id: participantId, trials_csv: data.trials,
                               clicks_csv: data.clicks }),
      });
      if (!response.ok) throw new Error("the server answered " + response.status);
      state.post = "sent";
      status.textContent = "Your answers were sent. You may close this page.";
    } catch (error) {
      state.post = "failed";
      status.textContent = "Sending failed (" + error.message + "). Please press \u201cSend "
        + "again\u201d, or download the two files and give them to the experimenter.";
      $("post-retry").hidden = false;
    }
  }

  function finish(participantId, records) {
    const data = sessionCsv(participantId, records);
    state.data = data;
    const files = { trials: participantId + "_trials.csv", clicks: participantId + "_clicks.csv" };
    $("download-trials").addEventListener("click", () => download(files.trials, data.trials));
    $("download-clicks").addEventListener("click", () => download(files.clicks, data.clicks));
    $("post-retry").addEventListener("click", () => send(participantId, data));
    show("done");
    window.removeEventListener("beforeunload", warnBeforeLeaving);
    download(files.trials, data.trials);
    download(files.clicks, data.clicks);
    if (CONFIG.post_url) send(participantId, data);
  }

  // ---------------------------------------------------------------- the session

  async function askParticipantId() {
    const input = $("participant-id");
    const query = new URLSearchParams(window.location.search);
    const given = URL_ID_PARAMETERS.map((name) => query.get(name)).find((v) => v);
    if (given) input.value = given;
    show("welcome");
    input.focus();
    return new Promise((resolve) => {
      $("welcome-form").addEventListener("submit", function onSubmit(event) {
        event.preventDefault();
        const id = input.value.trim();
        const valid = ID_PATTERN.test(id);
        $("participant-error").hidden = valid;
        if (!valid) return;
        this.removeEventListener("submit", onSubmit);
        resolve(id);
      });
    });
  }

  function fillInstructions(plan) {
    const texts = {
      hiding: CONFIG.hiding === "blur" ? "blurred" : "covered",
      "key-a": keyLabel(CONFIG.response_keys[0]),
      "key-b": keyLabel(CONFIG.response_keys[1]),
    };
    for (const node of document.querySelectorAll("[data-text]")) {
      node.textContent = texts[node.dataset.text];
    }
    const nMain = plan.main.length + " face" + (plan.main.length === 1 ? "" : "s");
    $("instructions-plan").textContent = plan.practice.length
      ? "You start with " + plan.practice.length + " practice trial"
        + (plan.practice.length === 1 ? "" : "s") + " with feedback, then " + nMain + " follow."
      : "There are " + nMain + ".";
    $("instructions-button").textContent = plan.practice.length ? "Start the practice" : "Start";
    $("main-intro-count").textContent = nMain + " follow.";
  }

  async function run() {
    $("loading").hidden = true;
    if (!CONFIG || !TRIALS) {
      fail("The experiment files config.js and trials.js were not found next to index.html.");
      return;
    }
    const participantId = await askParticipantId();
    state.participantId = participantId;
    const plan = planSession(participantId);
    fillInstructions(plan);
    show("instructions");
    await clicked($("instructions-button"));
    window.addEventListener("beforeunload", warnBeforeLeaving);
    if (plan.practice.length) {
      await runBlock(plan.practice, true);
      show("main-intro");
      await clicked($("main-button"));
    }
    const records = await runBlock(plan.main, false);
    finish(participantId, records);
  }

  window.ferExperiment = { state, planSession, sessionCsv, toCsv };
  document.addEventListener("DOMContentLoaded", () => {
    run().catch((error) => fail(error.message || String(error)));
  });
}());
