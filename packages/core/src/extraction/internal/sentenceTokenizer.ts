/**
 * Sentence tokenization for the chunker's splitter: a text becomes its sentences, each
 * ending with its delimiter group (one or more of `.?!…`, with the spaces between them and
 * an optional closing quote or bracket). Sentences are not trimmed, so they join back into
 * the text; empty sentences at either end are dropped.
 *
 * What must not end a sentence is masked first, in this order, each masked piece becoming a
 * numbered placeholder (`{{ABBREV_n}}`, `{{URI_n}}`, `{{NUMBER_n}}`, one counter for all):
 * abbreviations of a fixed list ("Dr.", "etc.", "a.m.", Spanish titles…; "e.g." is not one),
 * matched case-insensitively anywhere, also inside words ("lab." ends with "Ab."); URIs and
 * e-mail addresses; numbers ("3.14", "1,300,000"). The delimiter groups then become
 * `{{DELIM_n}}` placeholders, the text is cut after each one, and every sentence gets its
 * masked pieces back.
 *
 * Linear in the length of the text:
 * - The cut is one scan for delimiter placeholders, and each sentence is restored in one
 *   pass, not one pattern per placeholder (a long text has tens of thousands of them).
 * - A delimiter group and a plain e-mail address can only start where the run of characters
 *   they are made of starts (or where the previous match ended), so their patterns are
 *   anchored there by a lookbehind; left unanchored, a long run of spaces without a
 *   delimiter, or a long word without an "@", would be rescanned from each of its
 *   positions. The matches are the same.
 *
 * @internal
 */

const abbreviations: ReadonlyArray<string> = [
  "i.e.",
  "etc.",
  "vs.",
  "Inc.",
  "A.S.A.P.",
  "Mr.",
  "Mrs.",
  "Ms.",
  "Dr.",
  "Prof.",
  "Sr.",
  "Jr.",
  "Tel.",
  "a.m.",
  "p.m.",
  "Art.",
  "Sres.",
  "Srs.",
  "Sra.",
  "Sras.",
  "Srta.",
  "Srtas.",
  "Drs.",
  "Dra.",
  "Dras.",
  "Profs.",
  "Profa.",
  "Profas.",
  "Ing.",
  "Lic.",
  "Arq.",
  "Ab.",
  "Abs."
]

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

const abbreviationPattern = new RegExp(abbreviations.map(escapeRegExp).join("|"), "gi")

/**
 * URIs and e-mail addresses. A plain address (without "mailto:") starts where its run of
 * local-part characters starts, unless a previous match ended inside that run: then
 * {@link uriAt} is tried there first.
 */
const uriPattern =
  /https?:\/\/\S+|www\.\S+|ftp:\/\/\S+|mailto:[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}|(?<![a-zA-Z0-9._%+-])[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}|file:\/\/\S+/gi

/** The URI pattern without the anchoring, at one position. */
const uriAt =
  /https?:\/\/\S+|www\.\S+|ftp:\/\/\S+|(?:mailto:)?[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}|file:\/\/\S+/iy

const localPartChar = /[a-zA-Z0-9._%+-]/

const numberPattern = /\b\d{1,3}(?:,\d{3})*(?:\.\d+)?\b/g

/**
 * A delimiter group: delimiters and spaces ending with a delimiter, then an optional closing
 * quote or bracket. It always starts where a run of delimiters and spaces starts: a match
 * that ends inside such a run leaves only spaces in it.
 */
const delimiterPattern = /(?<![.?!… ])[.?!… ]*[.?!…]["'”’)}\]]?/g

const delimiterPlaceholder = /\{\{DELIM_(\d+)\}\}/g

/** Replace each URI of the text, in order, with `replace(uri)`. */
const replaceUris = (text: string, replace: (uri: string) => string): string => {
  let result = ""
  let copied = 0
  for (;;) {
    let match: RegExpExecArray | null = null
    if (copied > 0 && localPartChar.test(text.charAt(copied - 1))) {
      uriAt.lastIndex = copied
      match = uriAt.exec(text)
    }
    if (match === null) {
      uriPattern.lastIndex = copied
      match = uriPattern.exec(text)
    }
    if (match === null) break
    result += text.slice(copied, match.index) + replace(match[0])
    copied = match.index + match[0].length
  }
  return copied === 0 ? text : result + text.slice(copied)
}

/** The sentences of a text, in order, untrimmed (see the module doc). */
export const splitSentences = (text: string): Array<string> => {
  // Placeholder n is `{{<kinds[n]>_<n>}}` and stands for values[n].
  const kinds: Array<string> = []
  const values: Array<string> = []
  const placeholder = (kind: string) => (value: string): string => {
    const code = `{{${kind}_${kinds.length}}}`
    kinds.push(kind)
    values.push(value)
    return code
  }
  /** The number of placeholder `{{<kind>_<digits>}}`, or -1 if no such placeholder was made. */
  const made = (kind: string, digits: string): number => {
    const index = Number(digits)
    return kinds[index] === kind && String(index) === digits ? index : -1
  }

  const withoutAbbreviations = text.replace(abbreviationPattern, placeholder("ABBREV"))
  const withoutUris = replaceUris(withoutAbbreviations, placeholder("URI"))
  const withoutNumbers = withoutUris.replace(numberPattern, placeholder("NUMBER"))
  const cut = withoutNumbers.replace(delimiterPattern, placeholder("DELIM"))

  const pieces: Array<string> = []
  let start = 0
  for (const match of cut.matchAll(delimiterPlaceholder)) {
    if (made("DELIM", match[1]!) < 0) continue
    const end = match.index + match[0].length
    pieces.push(cut.slice(start, end))
    start = end
  }
  pieces.push(start === 0 ? cut : cut.slice(start))

  // A placeholder inside a restored value is restored only if it was made after that value
  // (the text may contain placeholder-like strings of its own).
  const restore = (piece: string, madeAfter: number): string =>
    piece.replace(/\{\{(NUMBER|URI|ABBREV)_(\d+)\}\}/g, (code, kind: string, digits: string) => {
      const index = made(kind, digits)
      return index > madeAfter ? restore(values[index]!, index) : code
    })
  const sentences = pieces.map((piece) =>
    restore(piece, -1).replace(delimiterPlaceholder, (code, digits: string) => {
      const index = made("DELIM", digits)
      return index < 0 ? code : values[index]!
    })
  )

  let from = 0
  let to = sentences.length
  while (to > 0 && sentences[to - 1] === "") to--
  while (from < to && sentences[from] === "") from++
  return from === 0 && to === sentences.length ? sentences : sentences.slice(from, to)
}
