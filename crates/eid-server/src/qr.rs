//! QR codes of approval links, as inline SVG.
//!
//! A login page draws a QR code for every new login and every 30 seconds after, so drawing one
//! must cost little. The `qrcode` crate encodes; the mask is fixed instead of chosen by scoring
//! all eight (ISO/IEC 18004 §7.8.3 describes the scoring as the encoder's choice; any mask
//! decodes, since the format information names it), which is most of the crate's cost, and
//! the SVG is one path.

use std::fmt::Write as _;

use qrcode::bits::encode_auto;
use qrcode::canvas::{Canvas, MaskPattern};
use qrcode::ec::construct_codewords;
use qrcode::types::{Color, EcLevel};

/// Modules of quiet zone around the code (ISO/IEC 18004 §6.3.8 asks for four).
const QUIET: usize = 4;

/// The QR code of `data` (error correction M) as SVG markup: one path of unit squares in a
/// view box of modules, scaled by the page.
pub fn svg(data: &str) -> Result<String, String> {
    let ec_level = EcLevel::M;
    let bits = encode_auto(data.as_bytes(), ec_level).map_err(|e| e.to_string())?;
    let version = bits.version();
    let (encoded, ec) =
        construct_codewords(&bits.into_bytes(), version, ec_level).map_err(|e| e.to_string())?;
    let mut canvas = Canvas::new(version, ec_level);
    canvas.draw_all_functional_patterns();
    canvas.draw_data(&encoded, &ec);
    canvas.apply_mask(MaskPattern::Checkerboard);
    let colors = canvas.into_colors();
    let width = usize::try_from(version.width()).map_err(|e| e.to_string())?;
    let size = width + 2 * QUIET;
    let mut path = String::with_capacity(colors.len() * 6);
    for (i, color) in colors.iter().enumerate() {
        if *color == Color::Dark {
            let (x, y) = (i % width + QUIET, i / width + QUIET);
            let _ = write!(path, "M{x} {y}h1v1h-1z");
        }
    }
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" width=\"240\" height=\"240\" shape-rendering=\"crispEdges\">\
         <rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/><path fill=\"#000\" d=\"{path}\"/></svg>"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_svg_draws_the_whole_code_with_its_quiet_zone() {
        let svg =
            svg("http://localhost:8080/api/v1/approvals/AAAAAAAAAAAAAAAAAAAAAA?t=BBBBBBBBBBB")
                .unwrap();
        // 76 bytes need version 5 at level M: 37 modules and 4 of quiet zone each side.
        assert!(svg.contains("viewBox=\"0 0 45 45\""), "{svg}");
        // The finder pattern's top-left module is dark.
        assert!(svg.contains("M4 4h1v1h-1z"));
        assert_eq!(svg.matches("<path").count(), 1, "one path");
    }

    #[test]
    fn a_qr_decoder_reads_the_link_back() {
        let data = "https://eid.example/api/v1/approvals/Zm9vYmFyYmF6cXV4cXV1eA?t=c2VjcmV0MDE";
        let svg = svg(data).unwrap();
        // Paint the path's unit squares onto a greyscale image, 8 pixels a module.
        let size: usize = svg
            .split("viewBox=\"0 0 ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .and_then(|s| s.parse().ok())
            .unwrap();
        let scale = 8;
        let mut dark = vec![false; size * size];
        let path = svg.split(" d=\"").nth(1).unwrap();
        for square in path.split('M').skip(1) {
            let mut it = square
                .split(|c: char| !c.is_ascii_digit())
                .filter(|s| !s.is_empty());
            let x: usize = it.next().unwrap().parse().unwrap();
            let y: usize = it.next().unwrap().parse().unwrap();
            dark[y * size + x] = true;
        }
        let mut image =
            rqrr::PreparedImage::prepare_from_greyscale(size * scale, size * scale, |x, y| {
                if dark[(y / scale) * size + x / scale] {
                    0
                } else {
                    255
                }
            });
        let grids = image.detect_grids();
        assert_eq!(grids.len(), 1);
        let (_, content) = grids[0].decode().unwrap();
        assert_eq!(content, data);
    }
}
