// The admin pages' forms call the admin API (JSON, with the CSRF header) and then reload the page.
(() => {
  const errorBox = document.getElementById('admin-error');
  const dialog = document.getElementById('secret-dialog');

  const showError = (message) => {
    errorBox.textContent = message;
    errorBox.hidden = false;
  };

  const fieldsOf = (form) => {
    const body = {};
    for (const el of form.elements) {
      if (!el.name || el.dataset.pathOnly !== undefined || el.type === 'submit' || el.type === 'file') continue;
      if (el.dataset.type === 'public') {
        if (el.checked) body.type = 'public';
        continue;
      }
      const value = el.value.trim();
      if (value === '') continue;
      if (el.dataset.type === 'lines') body[el.name] = value.split(/\s*\n\s*/).filter(Boolean);
      else if (el.dataset.type === 'number') body[el.name] = Number(value);
      else body[el.name] = value;
    }
    return body;
  };

  const send = async (form, method, path, body, contentType) => {
    const response = await fetch(`/admin/api/v1${path}`, {
      method,
      headers: { accept: 'application/json', 'x-csrf-token': form.dataset.csrf, ...(body === undefined ? {} : { 'content-type': contentType }) },
      body,
      credentials: 'same-origin',
    });
    const answer = response.status === 204 ? {} : await response.json();
    if (!response.ok) {
      const lines = (answer.errors || []).slice(0, 10).map((e) => `line ${e.line}: ${e.message}`);
      showError([answer.error_description || `Request failed (${response.status})`, ...lines].join(' — '));
      return;
    }
    if (answer.client_secret) {
      document.getElementById('secret-value').textContent = answer.client_secret;
      document.getElementById('secret-extra').textContent = `Client id: ${answer.clientId || answer.client_id}${answer.previous_secret_expires_at ? ` · the previous secret works until ${answer.previous_secret_expires_at}` : ''}`;
      dialog.addEventListener('close', () => location.reload(), { once: true });
      dialog.showModal();
      return;
    }
    location.reload();
  };

  for (const form of document.querySelectorAll('form[data-api], form[data-api-template], form[data-api-import]')) {
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      errorBox.hidden = true;
      if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
      if (form.dataset.apiImport) {
        const [method, path] = form.dataset.apiImport.split(' ');
        const file = form.elements.file.files[0];
        if (!file) return;
        const type = /\.(jsonl|ndjson)$/i.test(file.name) ? 'application/x-ndjson' : 'text/csv';
        // The file's bytes as they are: the server refuses one that is not UTF-8 (file.text()
        // would have replaced what it could not read, and the import would store that).
        await send(form, method, path, file, type);
        return;
      }
      const spec = form.dataset.api || form.dataset.apiTemplate.replace(/\{(\w+)\}/g, (_, name) => encodeURIComponent(form.elements[name].value));
      const [method, path] = spec.split(' ');
      const body = method === 'DELETE' ? undefined : JSON.stringify(fieldsOf(form));
      await send(form, method, path, body, 'application/json');
    });
  }
})();
