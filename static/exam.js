// Vigil's own exam page: the page's header in the candidate's language, and the candidate flow, which
// is the <vigil-proctor> element any exam page can embed (vigil-proctor.js, docs/embedding.md).
import { translatePage, translator } from "./i18n/index.js";

translatePage(translator()); // first: the element, once defined, translates its own parts (and may be live)
await import("./vigil-proctor.js");
