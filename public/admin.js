// The admin pages' forms call the admin API (JSON, with the CSRF header) and then reload the page.
// Form attributes: data-api="METHOD /path" (or data-api-template with {field} taken from the form,
// or data-api-import for a file), data-confirm (asked first), data-done (said after the reload),
// data-fill="name…" (the {name} placeholders of those two to fill: from the API's answer, else the
// form's field as shown; only those listed, so that a name typed by someone cannot pull one in),
// data-send-empty (empty fields are sent, as '' or [], so that an edit can clear them) and
// data-audience (a choice of users: the radio "audience" = everyone sends userIds [], else the
// ticked boxes, at least one). Field attributes: data-type = lines | number | bool | list | public,
// data-path-only (used in the path, not sent). The page's words for what this script says are in
// #admin-messages (data-messages, JSON), in the page's language.
(() => {
  const errorBox = document.getElementById('admin-error');
  const noticeBox = document.getElementById('admin-notice');
  const dialog = document.getElementById('secret-dialog');
  const NOTICE = 'atrium-admin-notice';
  const messages = JSON.parse(document.getElementById('admin-messages')?.dataset.messages || '{}');
  const say = (key, values = {}) => (messages[key] || key).replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ''));

  /** The value of a form's field as the admin sees it (a select's chosen option by its text). */
  const shown = (form, name) => {
    const el = form.elements[name];
    if (!el) return undefined;
    if (el instanceof HTMLSelectElement) return el.selectedOptions[0]?.textContent.trim() ?? '';
    return el.value.trim();
  };
  /** A message of the form with its data-fill placeholders filled from the answer, else from the form. */
  const fill = (text, form, answer = {}) => {
    const names = (form.dataset.fill || '').split(' ').filter(Boolean);
    return text.replace(/\{(\w+)\}/g, (whole, name) => {
      if (!names.includes(name)) return whole;
      const value = answer[name];
      return value !== undefined && typeof value !== 'object' ? String(value) : shown(form, name) ?? whole;
    });
  };

  // A form's buttons are disabled while its request runs, so that a double-click sends it once.
  const setBusy = (form, busy) => {
    if (busy) form.dataset.busy = '';
    else delete form.dataset.busy;
    for (const button of form.querySelectorAll('button')) button.disabled = busy;
  };

  const showError = (message) => {
    errorBox.textContent = message;
    errorBox.hidden = false;
    errorBox.scrollIntoView({ block: 'nearest' });
  };

  const notice = sessionStorage.getItem(NOTICE);
  if (notice && noticeBox) {
    sessionStorage.removeItem(NOTICE);
    noticeBox.textContent = notice;
    noticeBox.hidden = false;
  }

  const fieldsOf = (form) => {
    const body = {};
    const sendEmpty = form.dataset.sendEmpty !== undefined;
    for (const el of form.elements) {
      if (!el.name || el.dataset.pathOnly !== undefined || el.type === 'submit' || el.type === 'file') continue;
      if (el.dataset.type === 'public') {
        if (el.checked) body.type = 'public';
        continue;
      }
      if (el.dataset.type === 'bool') {
        body[el.name] = el.checked;
        continue;
      }
      if (el.dataset.type === 'list') {
        body[el.name] ??= [];
        if (el.checked) body[el.name].push(el.value);
        continue;
      }
      // A password is sent as typed: spaces at its ends are part of it.
      const value = el.type === 'password' ? el.value : el.value.trim();
      if (value === '') {
        if (sendEmpty && el.dataset.type === 'lines') body[el.name] = [];
        else if (sendEmpty && el.dataset.type !== 'number') body[el.name] = '';
        continue;
      }
      if (el.dataset.type === 'lines') body[el.name] = value.split(/\s*\n\s*/).filter(Boolean);
      else if (el.dataset.type === 'number') body[el.name] = Number(value);
      else body[el.name] = value;
    }
    return body;
  };

  const send = async (form, method, path, body, contentType) => {
    let response;
    try {
      response = await fetch(`/admin/api/v1${path}`, {
        method,
        headers: { accept: 'application/json', 'x-csrf-token': form.dataset.csrf, ...(body === undefined ? {} : { 'content-type': contentType }) },
        body,
        credentials: 'same-origin',
      });
    } catch {
      showError(say('unreachable'));
      return false;
    }
    // An answer that is not the API's (a proxy's page, say) is no success, whatever its status.
    const answer = response.status === 204 ? {} : await response.json().catch(() => undefined);
    if (answer === undefined) {
      showError(say('failed', { status: response.status }));
      return false;
    }
    if (!response.ok) {
      const lines = (answer.errors || []).slice(0, 10).map((e) => say('line', { line: e.line, message: e.message }));
      showError([answer.error_description || say('failed', { status: response.status }), ...lines].join(' — '));
      return false;
    }
    if (form.dataset.done) sessionStorage.setItem(NOTICE, fill(form.dataset.done, form, answer));
    if (answer.client_secret) {
      document.getElementById('secret-value').textContent = answer.client_secret;
      const previous = answer.previous_secret_expires_at ? say('previousSecret', { at: answer.previous_secret_expires_at }) : '';
      document.getElementById('secret-extra').textContent = say('clientId', { id: answer.clientId || answer.client_id }) + previous;
      dialog.addEventListener('close', () => location.reload(), { once: true });
      dialog.showModal();
      return true;
    }
    // data-next: where to go instead, when the change ends what the page shows (an app being edited, now deleted).
    if (form.dataset.next) location.assign(form.dataset.next);
    else location.reload();
    return true;
  };

  // Ticking a user means choosing users.
  for (const form of document.querySelectorAll('form[data-audience]')) {
    form.addEventListener('change', (event) => {
      if (event.target.dataset.type === 'list' && event.target.checked) form.elements.audience.value = 'chosen';
    });
  }

  for (const form of document.querySelectorAll('form[data-api], form[data-api-template], form[data-api-import]')) {
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (form.dataset.busy !== undefined) return;
      errorBox.hidden = true;
      if (noticeBox) noticeBox.hidden = true;
      if (form.dataset.confirm && !window.confirm(fill(form.dataset.confirm, form))) return;
      // Disabled until the page reloads; again usable when the request failed.
      const run = async (...request) => {
        setBusy(form, true);
        if (!(await send(form, ...request))) setBusy(form, false);
      };
      if (form.dataset.apiImport) {
        const [method, path] = form.dataset.apiImport.split(' ');
        const file = form.elements.file.files[0];
        if (!file) return;
        const type = /\.(jsonl|ndjson)$/i.test(file.name) ? 'application/x-ndjson' : 'text/csv';
        // The file's bytes as they are: the server refuses one that is not UTF-8 (file.text()
        // would have replaced what it could not read, and the import would store that).
        await run(method, path, file, type);
        return;
      }
      const spec = form.dataset.api || form.dataset.apiTemplate.replace(/\{(\w+)\}/g, (_, name) => encodeURIComponent(form.elements[name].value));
      const [method, path] = spec.split(' ');
      const fields = fieldsOf(form);
      if (form.dataset.audience !== undefined) {
        // userIds [] opens the app to every user of the tenant: only when that is what was chosen.
        if (form.elements.audience.value === 'everyone') fields.userIds = [];
        else if (!fields.userIds || fields.userIds.length === 0) {
          showError(say('tickUser'));
          return;
        }
      }
      const body = method === 'DELETE' ? undefined : JSON.stringify(fields);
      await run(method, path, body, 'application/json');
    });
  }
})();
