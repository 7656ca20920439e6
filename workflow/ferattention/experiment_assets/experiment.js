/*
 * Click-to-uncover 2AFC facial expression experiment (ferattention.experiment).
 *
 * Reads window.FER_CONFIG (config.js) and window.FER_TRIALS (trials.js), runs
 * welcome -> instructions -> practice (with feedback) -> main trials -> done, and keeps the
 * session as one JSON object (saved as the single file <id>_session.json;
 * the tables follow the click-log format of docs/design.md §4.4):
 *   {format: "ferattention-session", version, experiment_id, participant_id, started, updated,
 *    finished, complete, n_planned, user_agent, touch, viewport, trial_columns, click_columns,
 *    trials: [{participant_id, trial_id, image_id, option_a, option_b, response, rt_ms,
 *              stimulus_width, stimulus_height, n_clicks, flag}, ...],
 *    clicks: [{participant_id, trial_id, click_index, x, y, t_ms}, ...]}
 * x, y are pixels of the stimulus (origin top-left) whatever size the page shows it at; t_ms is
 * the time since trial onset, rt_ms the time of the answer; flag is "" or space-separated words:
 * "too_fast" (rt_ms < min_rt_ms), "catch" (an attention check: the face shown uncovered).
 * Practice trials are not saved.
 *
 * Nothing is lost on the way: the session is written to the browser's localStorage after every
 * answer, so a reload resumes it at the next trial; with post_url it is POSTed after every
 * trial and at the end (the whole session each time, one request at a time, with retries).
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
  const FORMAT = "ferattention-session";
  const FORMAT_VERSION = 1;
  //: Waits before the retries of a failed POST (ms); after the last one it counts as failed.
  const RETRY_MS = [500, 1500, 4000, 10000];

  const state = {
    phase: "loading",
    participantId: null,
    trialNumber: 0,        // 1-based number of the current trial within its block
    trialCount: 0,
    practice: false,
    current: null,         // the trial on screen
    awaitingResponse: false,
    session: null,         // the session object (see above)
    resumed: false,        // the session was resumed from local storage
    storage: null,         // null | "ok" | "failed": the last write to local storage
    post: null,            // null | "sending" | "sent" | "failed"
    postedTrials: -1,      // trials in the last session the server acknowledged
    touch: false,
    downloads: 0,
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
   * Images in an order balanced over expressions: each expression's images shuffled, then taken
   * in rounds of one image per expression (in a new random order each round), so that every
   * stretch of the session holds the expressions about equally often and a subset (the first
   * images_per_participant) holds them as equally as the images allow.
   */
  function balancedOrder(images, random) {
    const groups = new Map();
    for (const image of shuffled(images, random)) {
      if (!groups.has(image.label)) groups.set(image.label, []);
      groups.get(image.label).push(image);
    }
    const order = [];
    while (order.length < images.length) {
      for (const label of shuffled([...groups.keys()].sort(), random)) {
        const group = groups.get(label);
        if (group.length) order.push(group.pop());
      }
    }
    return order;
  }

  /**
   * For n trials, which have the correct option on the left: exactly half of them (for odd n,
   * one more on a randomly chosen side), in random order.
   */
  function balancedSides(n, random) {
    const left = Math.floor(n / 2) + (n % 2 && random() < 0.5 ? 1 : 0);
    return shuffled(Array.from({ length: n }, (_, k) => k < left), random);
  }

  /** Put the correct option (label) on the left or right as told; the other is the foil. */
  function placeOptions(a, b, label, correctLeft) {
    const foil = a === label ? b : a;
    return correctLeft ? [label, foil] : [foil, label];
  }

  /**
   * A participant's session, a deterministic function of the participant id (and of the trial
   * list, `trials`, FER_TRIALS by default): the images in an order balanced over expressions
   * (the first images_per_participant of them), each in one of its trials, with the correct
   * option on the left in half the trials; catch trials spread evenly among them; the practice
   * trials likewise balanced. option_a is the left button.
   */
  function planSession(participantId, trials) {
    const source = trials || TRIALS;
    const random = seededRandom(hashString("ferattention:" + participantId));
    let images = balancedOrder(source.main, random);
    if (CONFIG.images_per_participant) images = images.slice(0, CONFIG.images_per_participant);
    const mainSides = balancedSides(images.length, random);
    const main = images.map((image, k) => {
      const trial = image.trials[Math.floor(random() * image.trials.length)];
      const [a, b] = placeOptions(trial.option_a, trial.option_b, image.label, mainSides[k]);
      return { trial_id: trial.trial_id, image_id: image.image_id, image: image.image,
               hidden: image.hidden, option_a: a, option_b: b, label: image.label,
               catch: false };
    });
    const fixed = (items, prefix, isCatch) => {
      const sides = balancedSides(items.length, random);
      return shuffled(items, random).map((item, k) => {
        const [a, b] = placeOptions(item.option_a, item.option_b, item.label, sides[k]);
        return { trial_id: prefix + (k + 1), image_id: item.image_id, image: item.image,
                 hidden: item.hidden, option_a: a, option_b: b, label: item.label,
                 catch: isCatch };
      });
    };
    const practice = fixed(source.practice, "practice-", false);
    const checks = fixed(source.catch || [], "catch-", true);
    // Catch trial k goes after about (k + 1) / (n_catch + 1) of the main trials.
    const sequence = main.slice();
    checks.forEach((trial, k) => {
      const at = Math.round((k + 1) * main.length / (checks.length + 1)) + k;
      sequence.splice(at, 0, trial);
    });
    return { practice, main: sequence };
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

  /** A touch screen without a fine pointer (phones, tablets): tap, no keys. */
  function isTouchDevice() {
    const coarse = window.matchMedia && window.matchMedia("(pointer: coarse)").matches;
    return navigator.maxTouchPoints > 0 || Boolean(coarse);
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
   * Clicks are {click_index (from 1), x, y, t_ms}. A catch trial shows the face uncovered and
   * records no clicks.
   */
  async function runTrial(trial) {
    const [image, hidden] = await Promise.all(
      [loadImage(trial.image), trial.hidden ? loadImage(trial.hidden) : null]);
    const canvas = $("stimulus");
    const context = canvas.getContext("2d");
    canvas.width = CONFIG.stimulus_width;
    canvas.height = CONFIG.stimulus_height;
    if (trial.catch) {
      context.drawImage(image, 0, 0, canvas.width, canvas.height);
    } else {
      drawHidden(context, hidden);
    }

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
        if (!state.awaitingResponse || event.button !== 0 || trial.catch) return;
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

  /** Run the practice trials, with feedback; nothing is saved. */
  async function runPractice(trials) {
    state.practice = true;
    show("trial");
    for (let n = 0; n < trials.length; n++) {
      const trial = trials[n];
      clearTrial();
      setProgress("Practice", n + 1, trials.length);
      await sleep(CONFIG.iti_ms);
      const result = await runTrial(trial);
      const correct = result.response === trial.label;
      const canvas = $("stimulus");
      canvas.getContext("2d").drawImage(result.image, 0, 0, canvas.width, canvas.height);
      $("feedback").textContent = correct ? "Correct!"
        : "Not quite: this face shows " + trial.label + ".";
      $("feedback").className = correct ? "correct" : "wrong";
      await sleep(FEEDBACK_MS);
    }
    clearTrial();
  }

  /** Run the main trials from the first one not yet in the session; save after each answer. */
  async function runMain(trials, onAnswer) {
    state.practice = false;
    show("trial");
    for (let n = state.session.trials.length; n < trials.length; n++) {
      const trial = trials[n];
      clearTrial();
      setProgress("Trial", n + 1, trials.length);
      await sleep(CONFIG.iti_ms);
      const result = await runTrial(trial);
      onAnswer(trial, result);
    }
    $("progress-bar").value = trials.length;
    clearTrial();
  }

  // ---------------------------------------------------------------- the session's data

  const round2 = (value) => Math.round(value * 100) / 100;
  const storageKey = (participantId) =>
    "ferattention:" + CONFIG.experiment_id + ":session:" + participantId;
  const CURRENT_KEY = "ferattention:" + (CONFIG && CONFIG.experiment_id) + ":current";

  function newSession(participantId, plan) {
    const now = new Date().toISOString();
    return {
      format: FORMAT, version: FORMAT_VERSION, experiment_id: CONFIG.experiment_id,
      participant_id: participantId, started: now, updated: now, finished: null,
      complete: false, practice_done: plan.practice.length === 0, n_planned: plan.main.length,
      min_rt_ms: CONFIG.min_rt_ms, user_agent: navigator.userAgent, touch: state.touch,
      viewport: window.innerWidth + "x" + window.innerHeight,
      trial_columns: CONFIG.trial_columns, click_columns: CONFIG.click_columns,
      trials: [], clicks: [],
    };
  }

  /** Add one answered trial (and its clicks) to the session. */
  function addTrial(session, trial, result) {
    const key = { participant_id: session.participant_id, trial_id: trial.trial_id };
    const flags = [];
    if (result.rt_ms < CONFIG.min_rt_ms) flags.push("too_fast");
    if (trial.catch) flags.push("catch");
    session.trials.push({ ...key, image_id: trial.image_id, option_a: trial.option_a,
                          option_b: trial.option_b, response: result.response,
                          rt_ms: Math.round(result.rt_ms),
                          stimulus_width: CONFIG.stimulus_width,
                          stimulus_height: CONFIG.stimulus_height,
                          n_clicks: result.clicks.length, flag: flags.join(" ") });
    for (const click of result.clicks) {
      session.clicks.push({ ...key, click_index: click.click_index, x: round2(click.x),
                            y: round2(click.y), t_ms: Math.round(click.t_ms) });
    }
    session.updated = new Date().toISOString();
  }

  function sessionText(session) {
    return JSON.stringify(session);
  }

  /** Write the session to local storage; a failure (private mode, full) is remembered. */
  function store(session) {
    try {
      window.localStorage.setItem(storageKey(session.participant_id), sessionText(session));
      window.localStorage.setItem(CURRENT_KEY, session.participant_id);
      state.storage = "ok";
    } catch (error) {
      state.storage = "failed";
    }
  }

  function storedSession(participantId) {
    try {
      const text = window.localStorage.getItem(storageKey(participantId));
      const session = text && JSON.parse(text);
      return session && session.format === FORMAT ? session : null;
    } catch (error) {
      return null;
    }
  }

  function storedCurrentId() {
    try {
      return window.localStorage.getItem(CURRENT_KEY);
    } catch (error) {
      return null;
    }
  }

  function fileName(session) {
    return session.participant_id + "_session.json";
  }

  function download(session) {
    const blob = new Blob([sessionText(session)], { type: "application/json" });
    const url = URL.createObjectURL(blob);
    const link = document.createElement("a");
    link.href = url;
    link.download = fileName(session);
    document.body.appendChild(link);
    link.click();
    link.remove();
    state.downloads += 1;
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  }

  // ---------------------------------------------------------------- sending (post_url)

  /**
   * POSTs the session to CONFIG.post_url, one request at a time: a session that changes while
   * a request is on its way is sent when it returns. A failed request is retried after
   * RETRY_MS; the next trial's request carries everything anyway. Resolves when the latest
   * session was acknowledged (true) or the retries ran out (false).
   */
  const sender = {
    pending: null,
    running: null,

    send(session) {
      this.pending = sessionText(session);
      if (!this.running) this.running = this.drain().finally(() => { this.running = null; });
      return this.running;
    },

    async drain() {
      let ok = true;
      while (this.pending) {
        const body = this.pending;
        this.pending = null;
        ok = await this.post(body);
      }
      return ok;
    },

    async post(body) {
      state.post = "sending";
      for (let attempt = 0; ; attempt++) {
        try {
          const response = await fetch(CONFIG.post_url, {
            method: "POST", headers: { "Content-Type": "application/json" }, body,
          });
          if (!response.ok) throw new Error("the server answered " + response.status);
          state.post = "sent";
          state.postedTrials = JSON.parse(body).trials.length;
          return true;
        } catch (error) {
          state.postError = error.message || String(error);
          if (attempt >= RETRY_MS.length || this.pending) {
            state.post = this.pending ? "sending" : "failed";
            return false;
          }
          await sleep(RETRY_MS[attempt]);
        }
      }
    },
  };

  async function sendFinal(session) {
    const status = $("post-status");
    status.hidden = false;
    $("post-retry").hidden = true;
    status.textContent = "Sending your answers\u2026";
    const ok = await sender.send(session);
    if (ok && state.postedTrials === session.trials.length) {
      status.textContent = "Your answers were sent to the experimenter.";
    } else {
      status.textContent = "Sending failed (" + state.postError + "). Please press \u201cSend "
        + "again\u201d, or download your file and give it to the experimenter.";
      $("post-retry").hidden = false;
    }
  }

  // ---------------------------------------------------------------- the end

  /** Back to the welcome screen for someone else; the stored sessions stay. */
  function newParticipant() {
    try {
      window.localStorage.removeItem(CURRENT_KEY);
    } catch (error) { /* nothing stored */ }
    window.location.search = "";
  }

  function showDone(session) {
    $("done-file").textContent = fileName(session);
    $("done-file-2").textContent = fileName(session);
    $("download-session").onclick = () => download(session);
    $("post-retry").onclick = () => sendFinal(session);
    $("new-session").onclick = newParticipant;
    $("storage-note").hidden = state.storage !== "failed";
    $("storage-kept").hidden = state.storage === "failed";
    show("done");
  }

  // ---------------------------------------------------------------- the session

  /** The participant id given by the link (?participant_id=..., ?PROLIFIC_PID=...), if any. */
  function linkedId() {
    const query = new URLSearchParams(window.location.search);
    return URL_ID_PARAMETERS.map((name) => query.get(name)).find((v) => v) || null;
  }

  async function askParticipantId() {
    const input = $("participant-id");
    const given = linkedId();
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
    // Touch screens: tap, and no keys to speak of.
    for (const node of document.querySelectorAll("[data-input]")) {
      node.hidden = node.dataset.input !== (state.touch ? "touch" : "pointer");
    }
    $("instructions-catch").hidden = !plan.main.some((trial) => trial.catch);
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
    state.touch = isTouchDevice();
    document.body.classList.toggle("touch", state.touch);

    // A session in progress (or finished) in this browser is taken up again, unless the link
    // names someone else.
    let participantId = storedCurrentId();
    if (linkedId() && linkedId() !== participantId) participantId = null;
    let session = participantId && storedSession(participantId);
    if (!session) {
      participantId = await askParticipantId();
      session = storedSession(participantId);
    }
    state.participantId = participantId;
    const plan = planSession(participantId);
    fillInstructions(plan);

    if (session && session.complete) {
      state.session = session;
      showDone(session);
      if (CONFIG.post_url) await sendFinal(session);   // in case it never arrived
      return;
    }
    if (session) {
      state.resumed = true;
      $("resume-text").textContent = "Welcome back, " + participantId + ". You have answered "
        + session.trials.length + " of " + plan.main.length + " faces; the experiment continues"
        + " with the next one.";
      $("resume-other").onclick = newParticipant;
      show("resume");
      await clicked($("resume-button"));
    } else {
      session = newSession(participantId, plan);
      show("instructions");
      await clicked($("instructions-button"));
    }
    state.session = session;
    store(session);
    window.addEventListener("beforeunload", warnBeforeLeaving);
    if (!session.practice_done) {
      await runPractice(plan.practice);
      session.practice_done = true;
      store(session);
      show("main-intro");
      await clicked($("main-button"));
    }
    await runMain(plan.main, (trial, result) => {
      addTrial(session, trial, result);
      store(session);
      if (CONFIG.post_url) sender.send(session);
    });
    session.complete = true;
    session.finished = new Date().toISOString();
    store(session);
    window.removeEventListener("beforeunload", warnBeforeLeaving);
    showDone(session);
    download(session);
    if (CONFIG.post_url) await sendFinal(session);
  }

  window.ferExperiment = { state, planSession, storageKey, currentKey: CURRENT_KEY };
  document.addEventListener("DOMContentLoaded", () => {
    run().catch((error) => fail(error.message || String(error)));
  });
}());
