// HTML from templates whose interpolations are escaped unless they are HTML already: a sweep's name or a
// trial's error is user-visible text, never markup, so escaping is what happens when nobody thinks of it.

/** Markup that is already safe (built by `html` or `raw`). */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

/** Text the caller vouches for as markup (a constant stylesheet or script). Never user data. */
export const raw = (text: string) => new Html(text);

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

export type HtmlPart = Html | string | number | boolean | null | undefined | readonly HtmlPart[];

const render = (part: HtmlPart): string => {
  if (part instanceof Html) return part.text;
  if (Array.isArray(part)) return part.map(render).join('');
  if (part === null || part === undefined || part === false) return '';
  return escapeHtml(String(part));
};

/** `html\`<td>${value}</td>\``: strings and numbers are escaped, Html and lists of Html kept, null/undefined/false dropped. */
export function html(strings: TemplateStringsArray, ...parts: HtmlPart[]): Html {
  let text = strings[0]!;
  parts.forEach((part, i) => (text += render(part) + strings[i + 1]!));
  return new Html(text);
}
