// The form for one prediction, built from GET /metadata; every check is the API's own.
"use strict";

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function short(value) {
  return value === null || value === undefined ? "?" : String(Number(value.toPrecision(4)));
}

function element(tag, attributes = {}, text = "") {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text) node.textContent = text;
  return node;
}

function numberField(feature) {
  const training = feature.training || {};
  const input = element("input", {
    id: `field-${feature.name}`, name: feature.name, type: "text", inputmode: "decimal",
    autocomplete: "off", "aria-describedby": `hint-${feature.name} error-${feature.name}`,
  });
  if (training.mean !== null && training.mean !== undefined) input.placeholder = short(training.mean);
  const hint = `training range ${short(training.min)} to ${short(training.max)}` +
    (training.mean !== null && training.mean !== undefined ? `, mean ${short(training.mean)}` : "");
  return [input, hint];
}

function categoryField(feature) {
  const select = element("select", {
    id: `field-${feature.name}`, name: feature.name,
    "aria-describedby": `hint-${feature.name} error-${feature.name}`,
  });
  select.appendChild(element("option", {value: ""}, "choose a level"));
  for (const level of feature.levels) select.appendChild(element("option", {value: level}, level));
  return [select, `one of the ${feature.levels.length} levels seen in training`];
}

function buildForm(metadata) {
  const fields = document.getElementById("fields");
  for (const feature of metadata.features) {
    const row = element("div", {class: "field"});
    const [control, hint] =
      feature.type === "category" ? categoryField(feature) : numberField(feature);
    row.append(
      element("label", {for: control.id}, feature.name), control,
      element("span", {class: "hint", id: `hint-${feature.name}`}, hint),
      element("p", {class: "error", id: `error-${feature.name}`, hidden: ""}),
    );
    fields.appendChild(row);
  }
  const rmse = metadata.test_metrics && metadata.test_metrics.rmse;
  document.getElementById("model").textContent =
    `Model ${metadata.model} version ${metadata.version} (${metadata.estimator}` +
    (metadata.stage ? `, stage ${metadata.stage}` : "") + `, from the ${metadata.source}` +
    (rmse !== undefined && rmse !== null ? `; test RMSE ${short(rmse)}` : "") + ")";
  document.getElementById("submit").disabled = false;
}

function record(form, features) {
  const values = {};
  for (const feature of features) {
    const raw = form.elements[feature.name].value.trim();
    if (raw === "") continue;  // the API names what is missing
    values[feature.name] = feature.type !== "category" && DECIMAL.test(raw) ? Number(raw) : raw;
  }
  return values;
}

function clearErrors() {
  for (const node of document.querySelectorAll(".error")) {
    node.hidden = true;
    node.textContent = "";
  }
  for (const node of document.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
}

function showErrors(body, status) {
  const general = [];
  for (const error of body.errors || []) {
    const target = error.field && document.getElementById(`error-${error.field}`);
    if (target) {
      target.textContent = error.message;
      target.hidden = false;
      document.getElementById(`field-${error.field}`).setAttribute("aria-invalid", "true");
    } else {
      general.push(`${error.loc}: ${error.message}`);
    }
  }
  const formError = document.getElementById("form-error");
  formError.textContent = general.length || !(body.errors || []).length
    ? `${body.detail || `the service answered ${status}`}` : "Please correct the fields marked.";
  formError.hidden = false;
}

async function submit(event, features) {
  event.preventDefault();
  clearErrors();
  const result = document.getElementById("result");
  result.hidden = true;
  const response = await fetch("/predict", {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify(record(event.target, features)),
  });
  const body = await response.json().catch(() => ({detail: `the service answered ${response.status}`}));
  if (!response.ok) {
    showErrors(body, response.status);
    return;
  }
  const prediction = body.predictions[0];
  const output = document.getElementById("prediction");
  output.textContent = prediction.toFixed(2);
  output.dataset.value = String(prediction);
  document.getElementById("result-model").textContent = body.model;
  document.getElementById("model-version").textContent = body.model_version;
  result.hidden = false;
}

async function start() {
  const response = await fetch("/metadata");
  const metadata = await response.json().catch(() => ({}));
  if (!response.ok) {
    document.getElementById("model").textContent =
      `No model is being served: ${metadata.detail || response.status}`;
    return;
  }
  buildForm(metadata);
  document.getElementById("predict-form")
    .addEventListener("submit", (event) => submit(event, metadata.features));
}

start();
