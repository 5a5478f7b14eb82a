/**
 * The pages' two languages. The choice comes from `?lang=` (remembered in a cookie), then the
 * cookie, then Accept-Language; English otherwise. Templates get `t(key, values)`.
 */
import type { Context } from 'koa';

export const LOCALES = ['en', 'zh-CN'] as const;
export type Locale = (typeof LOCALES)[number];
export const LANG_COOKIE = 'atrium_lang';

const en = {
  'lang.name': 'English',
  'lang.switch': 'Language',
  'brand.tagline': 'Your apps, one sign-in',
  'login.title': 'Sign in',
  'login.continueTo': 'to continue to {app}',
  'login.tenant': 'Organisation',
  'login.username': 'Username',
  'login.password': 'Password',
  'login.submit': 'Sign in',
  'login.cancel': 'Cancel and return to the app',
  'login.failed': 'The organisation, username or password is not correct.',
  'workbench.title': 'Your apps',
  'workbench.search': 'Search apps',
  'workbench.searchButton': 'Search',
  'workbench.empty': 'No apps have been assigned to you yet. Ask your administrator.',
  'workbench.noMatch': 'No app matches “{q}”.',
  'workbench.expired': 'Expired on {date}',
  'workbench.recent': 'Recently used',
  'workbench.signedInAs': 'Signed in as {name} · {tenant}',
  'workbench.signOut': 'Sign out',
  'workbench.signOutEverywhere': 'Sign out everywhere',
  'workbench.admin': 'Administration',
  'launch.confirmTitle': 'Open {app}?',
  'launch.confirmText': 'Another site asked to open {app} with your account. Continue only if you meant to.',
  'launch.confirm': 'Open {app}',
  'launch.back': 'Back to your apps',
  'launch.unavailable': 'This app is not available to your account.',
  'launch.expired': 'Your organisation’s subscription to this app expired on {date}.',
  'launch.notLaunchable': 'This app cannot be opened from the workbench. Open it from its own site.',
  'logout.title': 'Sign out',
  'logout.question': 'Do you want to sign out of Atrium?',
  'logout.questionApp': 'Do you want to sign out of Atrium and {app}?',
  'logout.yes': 'Yes, sign me out',
  'logout.no': 'No, stay signed in',
  'logoutDone.title': 'Signed out',
  'logoutDone.text': 'You have signed out of Atrium.',
  'logoutDone.again': 'Sign in again',
  'consent.title': 'Not available',
  'error.title': 'Something went wrong',
  'error.code': 'Error code: {code}',
  'error.home': 'Go to the start page',
  'error.400': 'That request could not be understood',
  'error.403': 'Not allowed',
  'error.404': 'Page not found',
  'error.405': 'Method not allowed',
  'error.409': 'Not possible',
  'error.413': 'Request too large',
  'error.415': 'Unsupported content type',
  'error.429': 'Too many requests',
  'error.500': 'Something went wrong on our side',
  'error.503': 'Temporarily unavailable',
  'error.signIn': 'This sign-in request cannot continue',
  'error.cancelled': 'Sign-in was cancelled.',
  'error.signInExpired': 'This sign-in page has expired',
  'error.signInExpiredText': 'It was used already, or left open too long. If you are signed in, your apps are on the start page; otherwise go back to the app and sign in again.',
};

export type MessageKey = keyof typeof en;

const zh: Record<MessageKey, string> = {
  'lang.name': '简体中文',
  'lang.switch': '语言',
  'brand.tagline': '一次登录，所有应用',
  'login.title': '登录',
  'login.continueTo': '以继续使用 {app}',
  'login.tenant': '组织',
  'login.username': '用户名',
  'login.password': '密码',
  'login.submit': '登录',
  'login.cancel': '取消并返回应用',
  'login.failed': '组织、用户名或密码不正确。',
  'workbench.title': '我的应用',
  'workbench.search': '搜索应用',
  'workbench.searchButton': '搜索',
  'workbench.empty': '还没有为您分配应用，请联系管理员。',
  'workbench.noMatch': '没有与“{q}”匹配的应用。',
  'workbench.expired': '已于 {date} 过期',
  'workbench.recent': '最近使用',
  'workbench.signedInAs': '{name} · {tenant}',
  'workbench.signOut': '退出登录',
  'workbench.signOutEverywhere': '退出所有设备',
  'workbench.admin': '管理控制台',
  'launch.confirmTitle': '打开 {app}？',
  'launch.confirmText': '另一个网站请求以您的账号打开 {app}。仅当这是您本人的操作时才继续。',
  'launch.confirm': '打开 {app}',
  'launch.back': '返回我的应用',
  'launch.unavailable': '您的账号无法使用此应用。',
  'launch.expired': '贵组织对此应用的订阅已于 {date} 过期。',
  'launch.notLaunchable': '此应用无法从工作台打开，请从其自身网站打开。',
  'logout.title': '退出登录',
  'logout.question': '确定要退出 Atrium 吗？',
  'logout.questionApp': '确定要退出 Atrium 和 {app} 吗？',
  'logout.yes': '是的，退出登录',
  'logout.no': '不，保持登录',
  'logoutDone.title': '已退出登录',
  'logoutDone.text': '您已退出 Atrium。',
  'logoutDone.again': '重新登录',
  'consent.title': '无法使用',
  'error.title': '出错了',
  'error.code': '错误代码：{code}',
  'error.home': '返回首页',
  'error.400': '无法理解该请求',
  'error.403': '不允许',
  'error.404': '页面不存在',
  'error.405': '不支持该请求方法',
  'error.409': '无法完成',
  'error.413': '请求过大',
  'error.415': '不支持的内容类型',
  'error.429': '请求过于频繁',
  'error.500': '服务器出错了',
  'error.503': '服务暂时不可用',
  'error.signIn': '此登录请求无法继续',
  'error.cancelled': '登录已取消。',
  'error.signInExpired': '此登录页面已失效',
  'error.signInExpiredText': '该页面已被使用或停留时间过长。如果您已登录，您的应用在首页；否则请返回应用重新登录。',
};

const MESSAGES: Record<Locale, Record<MessageKey, string>> = { en, 'zh-CN': zh };

export type Translate = (key: MessageKey, values?: Record<string, string | number>) => string;

export function translator(locale: Locale): Translate {
  const messages = MESSAGES[locale];
  return (key, values = {}) => messages[key].replace(/\{(\w+)\}/g, (_, name: string) => String(values[name] ?? ''));
}

export const isLocale = (value: unknown): value is Locale => LOCALES.includes(value as Locale);

/** The locale of this request; a `?lang=` choice is remembered for a year. */
export function localeOf(ctx: Context): Locale {
  const asked = ctx.query.lang;
  if (isLocale(asked)) {
    ctx.cookies.set(LANG_COOKIE, asked, { httpOnly: true, sameSite: 'lax', maxAge: 365 * 86_400_000, path: '/', overwrite: true });
    return asked;
  }
  const remembered = ctx.cookies.get(LANG_COOKIE);
  if (isLocale(remembered)) return remembered;
  const accepted = ctx.acceptsLanguages('en', 'zh-CN', 'zh', 'zh-Hans', 'zh-SG');
  return typeof accepted === 'string' && accepted.startsWith('zh') ? 'zh-CN' : 'en';
}

/** Formats a date for the page's language, in UTC so every reader sees the same day. */
export const formatDate = (locale: Locale, iso: string): string =>
  new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeZone: 'UTC' }).format(new Date(iso));
