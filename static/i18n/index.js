// The page's strings: one table per language (en.js is complete; others may be partial). The language
// is ?lang= if given, else the page's <html lang> (a host page in its exam's language), else the first
// of the browser's languages we have (a page without lang, like exam.html), else English. Unknown keys
// come back as the key itself so a missing string is visible, never blank.
import en from "./en.js";
import fr from "./fr.js";

const TABLES = { en, fr };

const known = (tag) => { const lang = String(tag || "").slice(0, 2).toLowerCase(); return TABLES[lang] ? lang : null; };

export function pageLanguage() {
  const asked = new URLSearchParams(window.location.search).get("lang");
  if (asked) return known(asked) || "en";
  if (document.documentElement.lang) return known(document.documentElement.lang) || "en";
  const browser = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language];
  return browser.map(known).find(Boolean) || "en";
}

export function translator(lang = pageLanguage()) {
  const table = TABLES[lang] || en;
  return (key, vars) => {
    let text = table[key] ?? en[key] ?? key;
    for (const [k, v] of Object.entries(vars || {})) text = text.replaceAll(`{${k}}`, String(v));
    return text;
  };
}

// Fills every element marked data-i18n="key" (its text) or data-i18n-placeholder="key" (an input's
// placeholder) under root, and sets <html lang>; English is already in the HTML.
export function translatePage(t, root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  if (root === document) document.documentElement.lang = pageLanguage();
}
