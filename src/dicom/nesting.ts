// dicom-parser reads sequences by recursion (sequence -> item -> data set -> sequence ...), so a file of
// thousands of nested undefined-length sequences exhausts the call stack. This walks the same element
// layout without recursion, counting sequence depth, and refuses a file nested deeper than the limit
// before the parser sees it.
import { DicomFileError } from "./errors.ts";
import { MAX_SEQUENCE_DEPTH } from "./limits.ts";
import { EXPLICIT_BE, IMPLICIT_LE } from "./transfer-syntax.ts";

const UNDEFINED = 0xffffffff;
const LONG_VRS = new Set(["OB", "OD", "OL", "OW", "SQ", "OF", "UC", "UR", "UT", "UN"]);

interface Level {
  kind: "sequence" | "item";
  /** Offset just past the level, Infinity for undefined length. */
  end: number;
  implicit: boolean;
}

export interface NestingStart {
  /** Offset of the first element (the meta header of a Part-10 file, or the data set itself). */
  offset: number;
  /** The data set's transfer syntax when there is no meta header to read it from. */
  transferSyntaxUid?: string;
}

/**
 * Throws DicomFileError (parse-error, naming the sequence) when sequences nest deeper than
 * MAX_SEQUENCE_DEPTH. Stops quietly at anything it cannot follow: the parser then reports that itself.
 */
export function checkSequenceNesting(
  bytes: Uint8Array,
  start: NestingStart,
  maxDepth = MAX_SEQUENCE_DEPTH,
): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let inMeta = start.transferSyntaxUid === undefined;
  let syntax = start.transferSyntaxUid ?? "";
  let little = true;
  let implicitTop = syntax === IMPLICIT_LE;
  const stack: Level[] = [];
  let depth = 0;
  let pos = start.offset;
  const u16 = (at: number) => view.getUint16(at, little);
  const u32 = (at: number) => view.getUint32(at, little);
  while (true) {
    while (stack.length > 0 && pos >= stack[stack.length - 1]!.end) {
      if (stack.pop()!.kind === "sequence") depth--;
    }
    if (pos + 8 > bytes.length) return;
    if (inMeta && stack.length === 0 && view.getUint16(pos, true) !== 0x0002) {
      // End of the file meta header: the data set follows in its own transfer syntax.
      inMeta = false;
      if (syntax.startsWith("1.2.840.10008.1.2.1.99")) return; // deflated: scanned after inflation
      little = syntax !== EXPLICIT_BE;
      implicitTop = syntax === IMPLICIT_LE;
    }
    const top = stack[stack.length - 1];
    const group = u16(pos);
    const element = u16(pos + 2);
    if (top?.kind === "sequence") {
      if (group !== 0xfffe) return;
      const length = u32(pos + 4);
      pos += 8;
      if (element === 0xe000) {
        stack.push({
          kind: "item",
          end: length === UNDEFINED ? Infinity : pos + length,
          implicit: top.implicit,
        });
      } else if (element === 0xe0dd) {
        stack.pop();
        depth--;
      } else return;
      continue;
    }
    if (group === 0xfffe) {
      if (element !== 0xe00d || top === undefined) return;
      stack.pop();
      pos += 8;
      continue;
    }
    const implicit = inMeta ? false : (top?.implicit ?? implicitTop);
    let length: number;
    let header: number;
    let vr = "";
    if (implicit) {
      length = u32(pos + 4);
      header = 8;
    } else {
      vr = String.fromCharCode(bytes[pos + 4]!, bytes[pos + 5]!);
      if (LONG_VRS.has(vr)) {
        if (pos + 12 > bytes.length) return;
        length = u32(pos + 8);
        header = 12;
      } else {
        length = u16(pos + 6);
        header = 8;
      }
    }
    if (inMeta && group === 0x0002 && element === 0x0010 && length !== UNDEFINED) {
      const end = Math.min(bytes.length, pos + header + length);
      syntax = String.fromCharCode(...bytes.subarray(pos + header, end)).replace(/[\0 ]+$/, "");
    }
    const body = pos + header;
    if (group === 0x7fe0 && element === 0x0010 && stack.length === 0) return; // encapsulated: no recursion
    const undefinedLength = length === UNDEFINED;
    let sequence: boolean;
    let childImplicit = implicit;
    if (implicit) {
      const peek =
        body + 4 <= bytes.length &&
        u16(body) === 0xfffe &&
        (u16(body + 2) === 0xe000 || u16(body + 2) === 0xe0dd);
      sequence = peek && ((group & 1) === 0 || undefinedLength);
    } else {
      sequence = vr === "SQ" || (vr === "UN" && undefinedLength);
      if (vr === "UN") childImplicit = true;
    }
    if (sequence) {
      depth++;
      if (depth > maxDepth) {
        const tag = `(${hex(group)},${hex(element)})`;
        throw new DicomFileError(
          "parse-error",
          `sequences are nested more than ${maxDepth} deep (at sequence ${tag}, byte ${pos}); ` +
            "no image object nests that deep, so the file is refused as malformed",
          { field: `sequence ${tag}` },
        );
      }
      stack.push({
        kind: "sequence",
        end: undefinedLength ? Infinity : body + length,
        implicit: childImplicit,
      });
      pos = body;
      continue;
    }
    if (undefinedLength) {
      // An undefined-length value that is not a sequence ends at the next item delimitation tag.
      let p = body;
      while (p + 8 <= bytes.length && !(u16(p) === 0xfffe && u16(p + 2) === 0xe00d)) p += 2;
      pos = p + 8;
      continue;
    }
    pos = body + length;
  }
}

function hex(n: number): string {
  return n.toString(16).toUpperCase().padStart(4, "0");
}
