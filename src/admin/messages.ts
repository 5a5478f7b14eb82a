/**
 * The words of the admin pages' script (public/admin.js), which the layout hands it as JSON in
 * #admin-messages: the script keeps no text of its own. `{name}` is filled in by the script.
 */
export const SCRIPT_MESSAGES = {
  unreachable: 'The server could not be reached; nothing was changed. Try again.',
  failed: 'Request failed ({status})',
  line: 'line {line}: {message}',
  tickUser: 'Tick at least one user, or choose “Every user of the tenant”.',
  clientId: 'Client id: {id}',
  previousSecret: ' · the previous secret works until {at}',
};
