package ui

// The printable report: a PDF for printing and, for the PACS, the same
// document as a DICOM Encapsulated PDF (DICOM studies only, so it joins
// the source study).

import "cmrseg/app/study"

const exportPDF exportKind = 100

func init() { exportTitles[exportPDF] = "report (PDF)" }

func (v *Viewer) pdfExportFiles() []exportFile {
	ws := v.ws
	out := []exportFile{{ws.ExportBaseName(-1) + "_report.pdf", ws.ExportPDF}}
	if s := ws.Series(); s != nil {
		if _, ok := s.Source.(*study.DICOMSource); ok {
			out = append(out, exportFile{ws.ExportBaseName(-1) + "_report_pdf.dcm", ws.ExportPDF})
		}
	}
	return out
}
