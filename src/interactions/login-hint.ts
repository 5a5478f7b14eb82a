/**
 * `login_hint=user@code` names the user and their tenant. Usernames may contain "@", so the tenant
 * is what follows the last one; a hint without "@" is a username alone.
 */
export function parseLoginHint(hint: string): { username: string; tenant: string } {
  const trimmed = hint.trim().slice(0, 200);
  const at = trimmed.lastIndexOf('@');
  if (at <= 0 || at === trimmed.length - 1) return { username: trimmed, tenant: '' };
  return { username: trimmed.slice(0, at), tenant: trimmed.slice(at + 1).toLowerCase() };
}
