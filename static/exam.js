// Vigil's own exam page: the page's header in the candidate's language, and the candidate flow, which
// is the <vigil-proctor> element any exam page can embed (vigil-proctor.js, docs/embedding.md).
import { translatePage, translator } from "./i18n/index.js";
import "./vigil-proctor.js";

translatePage(translator());
