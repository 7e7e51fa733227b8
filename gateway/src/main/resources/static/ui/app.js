// The explanation page: calls the server's own V1 explain endpoint and colours each word by its
// importance on a diverging scale (red against the target, green for it), as Captum Insights does.
const $ = (id) => document.getElementById(id);

async function json(url, options) {
  const response = await fetch(url, options);
  const body = await response.json();
  if (!response.ok) {
    throw new Error(body.error || response.statusText);
  }
  return body;
}

async function loadModels() {
  const { models } = await json('/v1/models');
  $('model').innerHTML = models.map((m) => `<option>${m}</option>`).join('');
  await loadVersions();
}

async function loadVersions() {
  const model = $('model').value;
  const metadata = await json(`/v2/models/${encodeURIComponent(model)}`);
  $('version').innerHTML = metadata.versions
    .map((v) => `<option value="${v}"${v === metadata.parameters.default_version ? ' selected' : ''}>version ${v}</option>`)
    .join('');
}

function request() {
  return {
    instances: [$('text').value],
    parameters: { n_steps: Number($('steps').value), merge_subwords: $('merge').checked },
  };
}

function endpoint() {
  return `/v1/models/${encodeURIComponent($('model').value)}/versions/${encodeURIComponent($('version').value)}:explain`;
}

function colour(importance) {
  const alpha = Math.min(1, Math.abs(importance)) * 0.85;
  return importance >= 0 ? `rgba(39, 174, 96, ${alpha})` : `rgba(214, 48, 49, ${alpha})`;
}

function escape(text) {
  const span = document.createElement('span');
  span.textContent = text;
  return span.innerHTML;
}

function render(answer, seconds) {
  const e = answer.explanations[0];
  $('prediction').textContent = answer.predictions[0];
  $('target').textContent = e.target;
  $('probabilities').innerHTML = Object.entries(e.probabilities)
    .map(([label, p]) => `<div class="bar"><span class="name">${escape(label)}</span>`
      + `<span class="track"><span class="fill" style="width:${(100 * p).toFixed(1)}%"></span></span>`
      + `<span class="value">${(100 * p).toFixed(1)}%</span></div>`)
    .join('');
  $('words').innerHTML = e.words
    .map((w, i) => `<span class="word" data-importance="${e.importances[i]}" title="${e.importances[i].toFixed(3)}"`
      + ` style="background:${colour(e.importances[i])}">${escape(w)}</span>`)
    .join(' ');
  $('facts').textContent = `delta ${e.delta.toExponential(2)} · ${e.n_steps} steps (${e.method}, ${e.gradients} gradients)`
    + ` · explained in ${e.explain_ms.toFixed(0)} ms, round trip ${(seconds * 1000).toFixed(0)} ms`;
  $('result').hidden = false;
}

async function explain() {
  $('status').textContent = 'explaining…';
  const started = performance.now();
  try {
    const answer = await json(endpoint(), {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(request()),
    });
    render(answer, (performance.now() - started) / 1000);
    $('status').textContent = '';
  } catch (error) {
    $('status').textContent = `error: ${error.message}`;
  }
}

async function copyCurl() {
  const body = JSON.stringify(request()).replace(/'/g, "'\\''");
  const command = `curl -s ${location.origin}${endpoint()} -H 'Content-Type: application/json' -d '${body}'`;
  try {
    await navigator.clipboard.writeText(command);
    $('status').textContent = 'curl command copied';
  } catch (error) {
    $('status').textContent = command;
  }
}

$('model').addEventListener('change', loadVersions);
$('explain').addEventListener('click', explain);
$('copy').addEventListener('click', copyCurl);
$('merge').addEventListener('change', () => { if (!$('result').hidden) explain(); });
loadModels().catch((error) => { $('status').textContent = `error: ${error.message}`; });
