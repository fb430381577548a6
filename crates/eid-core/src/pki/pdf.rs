//! Signing a PDF in place (PAdES baseline B-B, and B-T with a signature time stamp; ETSI EN
//! 319 142-1): an incremental update appended to the document, which leaves every byte of it
//! as it was.
//!
//! The update adds a signature dictionary (`/SubFilter /ETSI.CAdES.detached`) whose
//! `/Contents` holds a detached CMS signature over the file's bytes except that hex string
//! (`/ByteRange`), an invisible signature field on the first page, the catalog with the
//! field in its `/AcroForm`, and a cross-reference section (a table, or a stream when the
//! document's last one is a stream) chained to the document's by `/Prev`. `lopdf` reads the
//! document; eid writes the update itself.

use std::fmt::Write as _;

use lopdf::{Dictionary, Object, ObjectId, StringFormat};

use crate::Error;

/// Bytes reserved for the CMS signature in `/Contents` (it is hex-encoded, so twice as many
/// characters): a signature with its chain and a time-stamp token fits with room to spare.
pub const SIGNATURE_SPACE: usize = 16 * 1024;

const BYTE_RANGE_PLACEHOLDER: &str = "[0 0000000000 0000000000 0000000000]";

/// Why a PDF cannot be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PdfError {
    #[error("not a PDF: {0}")]
    NotPdf(String),
    #[error("the PDF is encrypted: eid signs unencrypted PDFs only")]
    Encrypted,
    #[error("the PDF has no pages")]
    NoPages,
    #[error("the PDF's structure is not usable: {0}")]
    Structure(String),
    #[error("the signature is larger than the space reserved for it")]
    TooLarge,
}

impl From<PdfError> for Error {
    fn from(e: PdfError) -> Self {
        Error::invalid("pdf", e.to_string())
    }
}

/// A document read for signing.
struct Parsed {
    doc: lopdf::Document,
    catalog_id: ObjectId,
    page_id: ObjectId,
    prev_xref: usize,
    xref_is_stream: bool,
}

fn parse(bytes: &[u8]) -> Result<Parsed, PdfError> {
    if !bytes.starts_with(b"%PDF-") {
        return Err(PdfError::NotPdf("it does not start with %PDF-".into()));
    }
    // lopdf is a parser of untrusted input: a panic in it must not take the request down.
    let doc = std::panic::catch_unwind(|| lopdf::Document::load_mem(bytes))
        .map_err(|_| PdfError::NotPdf("the parser gave up on it".into()))?
        .map_err(|e| PdfError::NotPdf(e.to_string()))?;
    if doc.trailer.has(b"Encrypt") {
        return Err(PdfError::Encrypted);
    }
    let catalog_id = match doc.trailer.get(b"Root") {
        Ok(Object::Reference(id)) => *id,
        _ => return Err(PdfError::Structure("the trailer names no catalog".into())),
    };
    let page_id = *doc.get_pages().values().next().ok_or(PdfError::NoPages)?;
    let prev_xref = last_startxref(bytes)
        .ok_or_else(|| PdfError::Structure("no startxref at the end".into()))?;
    let xref_is_stream = !bytes
        .get(prev_xref..)
        .is_some_and(|rest| rest.starts_with(b"xref"));
    Ok(Parsed {
        doc,
        catalog_id,
        page_id,
        prev_xref,
        xref_is_stream,
    })
}

/// Checks that a PDF can be signed (when a service sends it, before the citizen is asked).
pub fn check(bytes: &[u8]) -> Result<(), PdfError> {
    parse(bytes).map(|_| ())
}

fn last_startxref(bytes: &[u8]) -> Option<usize> {
    let tail_start = bytes.len().saturating_sub(2048);
    let tail = &bytes[tail_start..];
    let at = tail.windows(9).rposition(|w| w == b"startxref")?;
    let rest = std::str::from_utf8(&tail[at + 9..]).ok()?;
    rest.split_whitespace().next()?.parse().ok()
}

/// Writes a PDF object (no streams: the update writes none but its own).
fn write_object(out: &mut String, object: &Object) -> Result<(), PdfError> {
    match object {
        Object::Null => out.push_str("null"),
        Object::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Object::Integer(i) => {
            let _ = write!(out, "{i}");
        }
        Object::Real(r) => {
            let _ = write!(out, "{r}");
        }
        Object::Name(name) => write_name(out, name),
        Object::String(s, _) => {
            out.push('<');
            for b in s {
                let _ = write!(out, "{b:02X}");
            }
            out.push('>');
        }
        Object::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_object(out, item)?;
            }
            out.push(']');
        }
        Object::Dictionary(dict) => write_dict(out, dict)?,
        Object::Reference((id, gen)) => {
            let _ = write!(out, "{id} {gen} R");
        }
        Object::Stream(_) => {
            return Err(PdfError::Structure(
                "a stream where a dictionary was expected".into(),
            ))
        }
    }
    Ok(())
}

fn write_name(out: &mut String, name: &[u8]) {
    out.push('/');
    for &b in name {
        if b.is_ascii_alphanumeric() || b"-_.+".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "#{b:02X}");
        }
    }
}

fn write_dict(out: &mut String, dict: &Dictionary) -> Result<(), PdfError> {
    out.push_str("<<");
    for (key, value) in dict.iter() {
        write_name(out, key);
        out.push(' ');
        write_object(out, value)?;
    }
    out.push_str(">>");
    Ok(())
}

fn literal(text: &str) -> Object {
    // As UTF-16BE with a byte-order mark, which every reader takes for any text.
    let mut bytes = vec![0xFE, 0xFF];
    for unit in text.encode_utf16() {
        bytes.extend_from_slice(&unit.to_be_bytes());
    }
    Object::String(bytes, StringFormat::Hexadecimal)
}

/// A PDF date: `D:YYYYMMDDHHmmSS+00'00'`.
fn pdf_date(unix: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => format!(
            "D:{:04}{:02}{:02}{:02}{:02}{:02}+00'00'",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => "D:19700101000000+00'00'".into(),
    }
}

/// A PDF prepared for signing: the bytes with the update and its placeholder, and where the
/// signature goes.
pub struct Prepared {
    bytes: Vec<u8>,
    /// The hex string's span, `<` and `>` included.
    contents: (usize, usize),
}

impl Prepared {
    /// What the signature covers: every byte but the `/Contents` hex string.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes.len());
        out.extend_from_slice(&self.bytes[..self.contents.0]);
        out.extend_from_slice(&self.bytes[self.contents.1..]);
        out
    }

    /// The signed PDF, with `signature` (DER CMS) in its place.
    pub fn finish(mut self, signature: &[u8]) -> Result<Vec<u8>, PdfError> {
        if signature.len() > SIGNATURE_SPACE {
            return Err(PdfError::TooLarge);
        }
        let mut hex = String::with_capacity(SIGNATURE_SPACE * 2);
        for b in signature {
            let _ = write!(hex, "{b:02X}");
        }
        let start = self.contents.0 + 1;
        self.bytes[start..start + hex.len()].copy_from_slice(hex.as_bytes());
        Ok(self.bytes)
    }
}

/// What the signature dictionary says besides the signature.
pub struct SignatureInfo<'a> {
    /// The signer's name (`/Name`).
    pub name: &'a str,
    /// Why (`/Reason`).
    pub reason: &'a str,
    /// When, Unix seconds (`/M`).
    pub time: i64,
}

/// Appends the signature's incremental update with a placeholder for the signature.
pub fn prepare(original: &[u8], info: &SignatureInfo<'_>) -> Result<Prepared, PdfError> {
    let parsed = parse(original)?;
    let doc = &parsed.doc;
    let base = doc.max_id.max(
        doc.trailer
            .get(b"Size")
            .ok()
            .and_then(|s| s.as_i64().ok())
            .and_then(|s| u32::try_from(s).ok())
            .unwrap_or(0)
            .saturating_sub(1),
    );
    let sig_id = base + 1;
    let field_id = base + 2;
    let mut acroform_id = None;

    // The first page, with the field's widget among its annotations.
    let mut page = doc
        .get_object(parsed.page_id)
        .and_then(Object::as_dict)
        .map_err(|e| PdfError::Structure(format!("the first page: {e}")))?
        .clone();
    let mut annots = match page.get(b"Annots") {
        Ok(Object::Array(items)) => items.clone(),
        Ok(Object::Reference(id)) => doc
            .get_object(*id)
            .and_then(Object::as_array)
            .map_err(|e| PdfError::Structure(format!("the page's annotations: {e}")))?
            .clone(),
        _ => Vec::new(),
    };
    annots.push(Object::Reference((field_id, 0)));
    page.set("Annots", Object::Array(annots));

    // The catalog, with the field in its form.
    let mut catalog = doc
        .get_object(parsed.catalog_id)
        .and_then(Object::as_dict)
        .map_err(|e| PdfError::Structure(format!("the catalog: {e}")))?
        .clone();
    let mut form = match catalog.get(b"AcroForm") {
        Ok(Object::Dictionary(d)) => d.clone(),
        Ok(Object::Reference(id)) => {
            acroform_id = Some(*id);
            doc.get_object(*id)
                .and_then(Object::as_dict)
                .map_err(|e| PdfError::Structure(format!("the form: {e}")))?
                .clone()
        }
        _ => Dictionary::new(),
    };
    let mut fields = match form.get(b"Fields") {
        Ok(Object::Array(items)) => items.clone(),
        Ok(Object::Reference(id)) => doc
            .get_object(*id)
            .and_then(Object::as_array)
            .cloned()
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let field_name = format!("eid-signature-{}", fields.len() + 1);
    fields.push(Object::Reference((field_id, 0)));
    form.set("Fields", Object::Array(fields));
    // SignaturesExist | AppendOnly.
    form.set("SigFlags", Object::Integer(3));
    if acroform_id.is_none() {
        catalog.set("AcroForm", Object::Dictionary(form.clone()));
    }

    let mut update = Vec::new();
    let mut offsets: Vec<(u32, usize)> = Vec::new();
    let mut text = String::new();
    let push = |update: &mut Vec<u8>, text: &str| update.extend_from_slice(text.as_bytes());

    let at = original.len() + update.len() + 1;
    push(&mut update, "\n");
    // The signature dictionary.
    offsets.push((sig_id, at));
    let _ = write!(
        text,
        "{sig_id} 0 obj\n<</Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached /ByteRange {BYTE_RANGE_PLACEHOLDER} /Contents <"
    );
    push(&mut update, &text);
    let contents_start = original.len() + update.len() - 1;
    update.extend(std::iter::repeat_n(b'0', SIGNATURE_SPACE * 2));
    let contents_end = original.len() + update.len() + 1;
    text.clear();
    text.push_str("> /M ");
    write_object(&mut text, &literal(&pdf_date(info.time)))?;
    text.push_str(" /Name ");
    write_object(&mut text, &literal(info.name))?;
    text.push_str(" /Reason ");
    write_object(&mut text, &literal(info.reason))?;
    text.push_str(">>\nendobj\n");
    push(&mut update, &text);

    // The field and its widget (invisible), on the first page.
    let mut objects: Vec<(u32, String)> = Vec::new();
    let mut field = String::new();
    let _ = write!(
        field,
        "<</Type /Annot /Subtype /Widget /FT /Sig /F 132 /Rect [0 0 0 0] /V {sig_id} 0 R /P {} {} R /T ",
        parsed.page_id.0, parsed.page_id.1
    );
    write_object(&mut field, &literal(&field_name))?;
    field.push_str(">>");
    objects.push((field_id, field));
    let mut page_text = String::new();
    write_dict(&mut page_text, &page)?;
    let mut catalog_text = String::new();
    write_dict(&mut catalog_text, &catalog)?;
    let mut rewritten: Vec<(ObjectId, String)> = vec![
        (parsed.page_id, page_text),
        (parsed.catalog_id, catalog_text),
    ];
    if let Some(id) = acroform_id {
        let mut form_text = String::new();
        write_dict(&mut form_text, &form)?;
        rewritten.push((id, form_text));
    }
    let mut entries: Vec<(u32, u16, usize)> = vec![(sig_id, 0, offsets[0].1)];
    for (id, body) in objects {
        let at = original.len() + update.len();
        push(&mut update, &format!("{id} 0 obj\n{body}\nendobj\n"));
        entries.push((id, 0, at));
    }
    for ((id, gen), body) in rewritten {
        let at = original.len() + update.len();
        push(&mut update, &format!("{id} {gen} obj\n{body}\nendobj\n"));
        entries.push((id, gen, at));
    }

    // The cross-reference section and trailer.
    let root = format!("{} {} R", parsed.catalog_id.0, parsed.catalog_id.1);
    let mut id_text = String::new();
    if let Ok(id) = doc.trailer.get(b"ID") {
        id_text.push_str(" /ID ");
        write_object(&mut id_text, id)?;
    }
    entries.sort_by_key(|e| e.0);
    let xref_at = original.len() + update.len();
    if parsed.xref_is_stream {
        let xref_id = field_id.max(entries.last().map_or(0, |e| e.0)) + 1;
        entries.push((xref_id, 0, xref_at));
        let mut data = Vec::new();
        let mut index = String::new();
        for (id, gen, offset) in &entries {
            let _ = write!(index, "{id} 1 ");
            data.push(1u8);
            data.extend_from_slice(
                &u32::try_from(*offset)
                    .map_err(|_| PdfError::TooLarge)?
                    .to_be_bytes(),
            );
            data.extend_from_slice(&gen.to_be_bytes());
        }
        let size = xref_id.max(base) + 1;
        push(
            &mut update,
            &format!(
                "{xref_id} 0 obj\n<</Type /XRef /Size {size} /Index [{}] /W [1 4 2] /Root {root} /Prev {}{id_text} /Length {}>>\nstream\n",
                index.trim_end(),
                parsed.prev_xref,
                data.len()
            ),
        );
        update.extend_from_slice(&data);
        push(&mut update, "\nendstream\nendobj\n");
    } else {
        let size = entries.last().map_or(0, |e| e.0).max(base) + 1;
        let mut xref = String::from("xref\n");
        for (id, gen, offset) in &entries {
            let _ = write!(xref, "{id} 1\n{offset:010} {gen:05} n \n");
        }
        let _ = write!(
            xref,
            "trailer\n<</Size {size} /Root {root} /Prev {}{id_text}>>\n",
            parsed.prev_xref
        );
        push(&mut update, &xref);
    }
    push(&mut update, &format!("startxref\n{xref_at}\n%%EOF\n"));

    let mut bytes = original.to_vec();
    bytes.extend_from_slice(&update);
    // The byte range: everything before the hex string and everything after it.
    let total = bytes.len();
    let range = format!(
        "[0 {:010} {:010} {:010}]",
        contents_start,
        contents_end,
        total - contents_end
    );
    let placeholder_at = bytes
        .windows(BYTE_RANGE_PLACEHOLDER.len())
        .rposition(|w| w == BYTE_RANGE_PLACEHOLDER.as_bytes())
        .ok_or_else(|| PdfError::Structure("the byte range placeholder went missing".into()))?;
    bytes[placeholder_at..placeholder_at + range.len()].copy_from_slice(range.as_bytes());
    Ok(Prepared {
        bytes,
        contents: (contents_start, contents_end),
    })
}

/// A one-page PDF with `lines` of text (Helvetica), with a classic cross-reference table: for
/// the examples and tests.
pub fn simple_document(title: &str, lines: &[&str]) -> Vec<u8> {
    let escape = |s: &str| {
        s.chars()
            .filter(|c| c.is_ascii() && !c.is_ascii_control())
            .flat_map(|c| match c {
                '(' | ')' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect::<String>()
    };
    let mut content = String::from("BT /F1 18 Tf 72 760 Td (");
    content.push_str(&escape(title));
    content.push_str(") Tj /F1 11 Tf");
    for line in lines {
        content.push_str(" 0 -22 Td (");
        content.push_str(&escape(line));
        content.push_str(") Tj");
    }
    content.push_str(" ET");
    let objects = [
        "<</Type /Catalog /Pages 2 0 R>>".to_owned(),
        "<</Type /Pages /Kids [3 0 R] /Count 1>>".to_owned(),
        "<</Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources <</Font <</F1 5 0 R>>>> /Contents 4 0 R>>".to_owned(),
        format!("<</Length {}>>\nstream\n{content}\nendstream", content.len()),
        "<</Type /Font /Subtype /Type1 /BaseFont /Helvetica>>".to_owned(),
    ];
    let mut out = String::from("%PDF-1.7\n");
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        let _ = write!(out, "{} 0 obj\n{body}\nendobj\n", i + 1);
    }
    let xref_at = out.len();
    let _ = write!(out, "xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for offset in offsets {
        let _ = writeln!(out, "{offset:010} 00000 n ");
    }
    let _ = write!(
        out,
        "trailer\n<</Size {} /Root 1 0 R>>\nstartxref\n{xref_at}\n%%EOF\n",
        objects.len() + 1
    );
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lopdf::dictionary;

    #[test]
    fn a_prepared_pdf_keeps_the_original_and_its_byte_range_skips_the_contents() {
        let original = simple_document("Tenancy agreement", &["Flat 1, 2 Garden Road"]);
        check(&original).unwrap();
        let prepared = prepare(
            &original,
            &SignatureInfo {
                name: "CHAN Tai Man",
                reason: "Signed with eid",
                time: 1_800_000_000,
            },
        )
        .unwrap();
        assert!(prepared.bytes.starts_with(&original));
        let (a, b) = prepared.contents;
        assert_eq!(prepared.bytes[a], b'<');
        assert_eq!(prepared.bytes[b - 1], b'>');
        assert_eq!(
            prepared.signed_bytes().len(),
            prepared.bytes.len() - (b - a)
        );
        let signed = prepared.finish(&[0x30, 0x03, 0x02, 0x01, 0x01]).unwrap();
        // The update parses, and the signature field is in the form.
        let doc = lopdf::Document::load_mem(&signed).unwrap();
        let catalog = doc.catalog().unwrap();
        assert!(catalog.has(b"AcroForm"));
        let text = String::from_utf8_lossy(&signed);
        assert!(text.contains("/ByteRange [0 "));
        assert!(text.contains("/SubFilter /ETSI.CAdES.detached"));
    }

    /// A PDF whose cross-reference is a stream (PDF 1.5 and later, lopdf's default): the update
    /// writes a stream too, chained to the document's, and the result reads back with the
    /// signature field in the form.
    #[test]
    fn a_pdf_with_a_cross_reference_stream_gets_one_in_its_update() {
        let mut doc = lopdf::Document::with_version("1.7");
        let pages_id = doc.new_object_id();
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        });
        doc.objects.insert(
            pages_id,
            Object::Dictionary(dictionary! {
                "Type" => "Pages",
                "Kids" => vec![page_id.into()],
                "Count" => 1,
            }),
        );
        let catalog_id = doc.add_object(dictionary! {
            "Type" => "Catalog",
            "Pages" => pages_id,
        });
        doc.trailer.set("Root", catalog_id);
        let mut original = Vec::new();
        doc.save_to(&mut original).unwrap();
        let parsed = parse(&original).unwrap();
        assert!(
            parsed.xref_is_stream,
            "lopdf writes a cross-reference stream"
        );

        let prepared = prepare(
            &original,
            &SignatureInfo {
                name: "CHAN Tai Man",
                reason: "test",
                time: 1_800_000_000,
            },
        )
        .unwrap();
        let signed = prepared.finish(&[0x30, 0x00]).unwrap();
        assert!(signed.starts_with(&original));
        let text = String::from_utf8_lossy(&signed[original.len()..]);
        assert!(
            text.contains("/Type /XRef") && text.contains("/Prev "),
            "{text}"
        );
        let again = lopdf::Document::load_mem(&signed).unwrap();
        let form = match again.catalog().unwrap().get(b"AcroForm").unwrap() {
            Object::Dictionary(d) => d.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(form.get(b"SigFlags").unwrap().as_i64().unwrap(), 3);
        let page = again.get_object(page_id).unwrap().as_dict().unwrap();
        assert_eq!(page.get(b"Annots").unwrap().as_array().unwrap().len(), 1);
    }

    #[test]
    fn what_is_not_a_pdf_is_refused() {
        assert!(matches!(check(b"hello"), Err(PdfError::NotPdf(_))));
        assert!(check(b"%PDF-1.7\ngarbage").is_err());
        assert!(check(b"").is_err());
    }
}
