// The explanation page: calls the server's own V1 explain endpoint and colours each word by its
// importance on a diverging scale (red against the target, green for it), as Captum Insights does.
// What the model serves (its metadata's task, pairs, zero_shot, rerank) decides the form: a second
// text for pairs, candidate labels for zero-shot, a query for rerank; a token classifier's entities
// are found first (V1 predict), highlighted in the text, and explained one at a time on a click.
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

let served = {};

async function loadVersions() {
  const model = $('model').value;
  const metadata = await json(`/v2/models/${encodeURIComponent(model)}`);
  served = metadata.parameters || {};
  $('pair-field').hidden = !served.pairs || served.rerank === true;
  $('labels-field').hidden = !served.zero_shot;
  $('query-field').hidden = !served.rerank;
  $('entities-section').hidden = true;
  $('result').hidden = true;
  $('version').innerHTML = metadata.versions
    .map((v) => `<option value="${v}"${v === metadata.parameters.default_version ? ' selected' : ''}>version ${v}</option>`)
    .join('');
}

let entity = null;

function request() {
  const parameters = {
    n_steps: Number($('steps').value), merge_subwords: $('merge').checked, explainer: $('explainer').value,
    baseline: $('baseline').value,
  };
  if ($('target-label').value.trim() !== '') parameters.target = $('target-label').value.trim();
  if ($('contrast').value.trim() !== '') parameters.contrast_with = $('contrast').value.trim();
  if ($('evaluate').checked) parameters.evaluate = true;
  let instance = $('text').value;
  if (served.pairs && !served.rerank && $('pair').value.trim() !== '') {
    instance = { text: $('text').value, text_pair: $('pair').value };
  } else if (served.zero_shot && $('labels').value.trim() !== '') {
    parameters.candidate_labels = $('labels').value;
  } else if (served.rerank && $('query').value.trim() !== '') {
    parameters.query = $('query').value;
  }
  if (served.task === 'token_classification' && entity !== null) {
    parameters.entity = entity;
  }
  return { instances: [instance], parameters };
}

function endpoint(verb = 'explain') {
  return `/v1/models/${encodeURIComponent($('model').value)}/versions/${encodeURIComponent($('version').value)}:${verb}`;
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
  const word = (w, i) => `<span class="word" data-importance="${e.importances[i]}" title="${e.importances[i].toFixed(3)}"`
    + ` style="background:${colour(e.importances[i])}">${escape(w)}</span>`;
  if (e.segment) {
    // a pair: each text on its own line, special tokens left out of both
    const line = (s) => e.words.map((w, i) => (e.segment[i] === s ? word(w, i) : '')).filter((h) => h).join(' ');
    $('words').innerHTML = `<span class="segment">${line(0)}</span><span class="segment">${line(1)}</span>`;
  } else {
    $('words').innerHTML = e.words.map(word).join(' ');
  }
  // only integrated gradients' attributions sum to the change, so only they have a delta
  const how = e.delta === undefined ? `${e.explainer.replace(/_/g, ' ')} (${e.gradients})`
    : `delta ${e.delta.toExponential(2)} · ${e.n_steps} steps (${e.method}, ${e.gradients} gradients)`;
  $('facts').textContent = how
    + ` · explained in ${e.explain_ms.toFixed(0)} ms, round trip ${(seconds * 1000).toFixed(0)} ms`;
  const f = e.faithfulness;
  $('faithfulness').hidden = !f;
  if (f) {
    $('faithfulness').textContent = `faithfulness: comprehensiveness ${f.comprehensiveness.toFixed(3)} (higher is better)`
      + ` · sufficiency ${f.sufficiency.toFixed(3)} (lower is better)`
      + (f.loo_correlation === null ? '' : ` · leave-one-out rank correlation ${f.loo_correlation.toFixed(3)}`)
      + ` · ${f.evaluations} forward passes`;
  }
  $('target').textContent = e.contrast_with ? `${e.target} against ${e.contrast_with}` : e.target;
  $('result').hidden = false;
}

/** A token classifier's entities in the text, each a link that explains it. */
async function findEntities() {
  const text = $('text').value;
  const answer = await json(endpoint('predict'), {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ instances: [text] }),
  });
  const found = answer.predictions[0];
  // offsets are code points, as Python counts them
  const points = Array.from(text);
  let html = '';
  let at = 0;
  found.forEach((f, i) => {
    html += escape(points.slice(at, f.start).join(''));
    html += `<a href="#" class="entity" data-index="${i}" title="${escape(f.entity_group || f.entity)} ${f.score.toFixed(2)}">`
      + `${escape(points.slice(f.start, f.end).join(''))}<sub>${escape(f.entity_group || f.entity)}</sub></a>`;
    at = f.end;
  });
  html += escape(points.slice(at).join(''));
  $('entities').innerHTML = found.length ? html : 'no entity found';
  document.querySelectorAll('#entities .entity').forEach((a) => a.addEventListener('click', (event) => {
    event.preventDefault();
    entity = Number(a.dataset.index);
    document.querySelectorAll('#entities .entity').forEach((b) => b.classList.toggle('chosen', b === a));
    explain();
  }));
  $('entities-section').hidden = false;
  return found.length;
}

async function explain() {
  if (served.task === 'token_classification' && entity === null) {
    try {
      if (await findEntities() === 0) {
        $('status').textContent = 'no entity to explain';
        return;
      }
    } catch (error) {
      $('status').textContent = `error: ${error.message}`;
      return;
    }
    entity = 0;
    document.querySelector('#entities .entity').classList.add('chosen');
  }
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

$('model').addEventListener('change', () => { entity = null; loadVersions(); });
$('text').addEventListener('input', () => { entity = null; });
$('explain').addEventListener('click', explain);
$('copy').addEventListener('click', copyCurl);
$('merge').addEventListener('change', () => { if (!$('result').hidden) explain(); });
loadModels().catch((error) => { $('status').textContent = `error: ${error.message}`; });
