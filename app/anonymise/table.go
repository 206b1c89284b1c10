package anonymise

// Rule is one row of PS3.15 Table E.1-1 (Application Level Confidentiality
// Profile Attributes): the attribute, the Basic Profile action as the table
// writes it, and whether the Retain Longitudinal Temporal Information with
// Modified Dates Option changes it to C (clean: dates shifted).
//
// Actions (PS3.15 E.3): D dummy value, Z zero length (or dummy), X remove,
// K keep, C clean, U replace UID consistently. A combination such as X/Z
// leaves the choice to the type of the attribute in the IOD; Resolve makes
// it for the MR image and Segmentation IODs this program handles.
type Rule struct {
	Tag    uint32
	Name   string
	Basic  string
	Option bool // Retain Longitudinal Temporal Information with Modified Dates: C
}

// Table holds every E.1-1 attribute that can appear in an MR image, an
// Enhanced MR image, a Segmentation or the studies and requests around
// them (waveform-, RT-, dose- and X-ray-only attributes are left out: the
// general rules below still remove them when private, and no such UID or
// date survives because every UI of the table and every DA/DT is handled).
// Group patterns (50xx curves, 60xx overlays) are handled in action().
var Table = []Rule{
	{0x00080050, "Accession Number", "Z", false},
	{0x00184000, "Acquisition Comments", "X", false},
	{0x00400555, "Acquisition Context Sequence", "X", false},
	{0x00080022, "Acquisition Date", "X/Z", true},
	{0x0008002A, "Acquisition DateTime", "X/D", true},
	{0x00181400, "Acquisition Device Processing Description", "X/D", false},
	{0x00189424, "Acquisition Protocol Description", "X", false},
	{0x00080032, "Acquisition Time", "X/Z", true},
	{0x00404035, "Actual Human Performers Sequence", "X", false},
	{0x001021B0, "Additional Patient History", "X", false},
	{0x00380010, "Admission ID", "X", false},
	{0x00380020, "Admitting Date", "X", true},
	{0x00081084, "Admitting Diagnoses Code Sequence", "X", false},
	{0x00081080, "Admitting Diagnoses Description", "X", false},
	{0x00380021, "Admitting Time", "X", true},
	{0x00102110, "Allergies", "X", false},
	{0x40000010, "Arbitrary", "X", false},
	{0x0040A078, "Author Observer Sequence", "X", false},
	{0x00101081, "Branch of Service", "X", false},
	{0x00181007, "Cassette ID", "X", false},
	{0x00400280, "Comments on the Performed Procedure Step", "X", false},
	{0x00209161, "Concatenation UID", "U", false},
	{0x00403001, "Confidentiality Constraint on Patient Data Description", "X", false},
	{0x00700084, "Content Creator's Name", "Z", false},
	{0x00700086, "Content Creator's Identification Code Sequence", "X", false},
	{0x00080023, "Content Date", "Z/D", true},
	{0x0040A730, "Content Sequence", "X", false},
	{0x00080033, "Content Time", "Z/D", true},
	{0x0008010D, "Context Group Extension Creator UID", "U", false},
	{0x00180010, "Contrast/Bolus Agent", "Z/D", false},
	{0x0018A003, "Contribution Description", "X", false},
	{0x0018A002, "Contribution DateTime", "X", true},
	{0x00102150, "Country of Residence", "X", false},
	{0x00089123, "Creator-Version UID", "U", false},
	{0x00380300, "Current Patient Location", "X", false},
	{0x00080025, "Curve Date", "X", true},
	{0x00080035, "Curve Time", "X", true},
	{0x0040A07C, "Custodial Organization Sequence", "X", false},
	{0x00181200, "Date of Last Calibration", "X", true},
	{0x00181201, "Time of Last Calibration", "X", true},
	{0x00181012, "Date of Secondary Capture", "X", true},
	{0x00181014, "Time of Secondary Capture", "X", true},
	{0x00181002, "Device UID", "U", false},
	{0x00181000, "Device Serial Number", "X/Z/D", false},
	{0xFFFAFFFA, "Digital Signatures Sequence", "X", false},
	{0x04000100, "Digital Signature UID", "X", false},
	{0x04000105, "Digital Signature DateTime", "X", true},
	{0x00209164, "Dimension Organization UID", "U", false},
	{0x00380040, "Discharge Diagnosis Description", "X", false},
	{0x00380030, "Discharge Date", "X", true},
	{0x00380032, "Discharge Time", "X", true},
	{0x4008011A, "Distribution Address", "X", false},
	{0x40080119, "Distribution Name", "X", false},
	{0x00102160, "Ethnic Group", "X", false},
	{0x00080058, "Failed SOP Instance UID List", "U", false},
	{0x0070031A, "Fiducial UID", "U", false},
	{0x00402017, "Filler Order Number / Imaging Service Request", "Z", false},
	{0x00189074, "Frame Acquisition DateTime", "X/D", true},
	{0x00209158, "Frame Comments", "X", false},
	{0x00189151, "Frame Reference DateTime", "X/D", true},
	{0x00200052, "Frame of Reference UID", "U", false},
	{0x00181008, "Gantry ID", "X", false},
	{0x00181005, "Generator ID", "X", false},
	{0x00700001, "Graphic Annotation Sequence", "D", false},
	{0x00404037, "Human Performers Name", "X", false},
	{0x00404036, "Human Performers Organization", "X", false},
	{0x00880200, "Icon Image Sequence", "X", false},
	{0x00084000, "Identifying Comments", "X", false},
	{0x00204000, "Image Comments", "X", false},
	{0x00284000, "Image Presentation Comments", "X", false},
	{0x00402400, "Imaging Service Request Comments", "X", false},
	{0x40080300, "Impressions", "X", false},
	{0x00080014, "Instance Creator UID", "U", false},
	{0x00080012, "Instance Creation Date", "X/D", true},
	{0x00080013, "Instance Creation Time", "X/Z/D", true},
	{0x00080015, "Instance Coercion DateTime", "X", true},
	{0x00080081, "Institution Address", "X", false},
	{0x00080082, "Institution Code Sequence", "X/Z/D", false},
	{0x00080080, "Institution Name", "X/Z/D", false},
	{0x00081040, "Institutional Department Name", "X", false},
	{0x00101050, "Insurance Plan Identification", "X", false},
	{0x00401011, "Intended Recipients of Results Identification Sequence", "X", false},
	{0x40080111, "Interpretation Approver Sequence", "X", false},
	{0x4008010C, "Interpretation Author", "X", false},
	{0x40080115, "Interpretation Diagnosis Description", "X", false},
	{0x40080202, "Interpretation ID Issuer", "X", false},
	{0x40080102, "Interpretation Recorder", "X", false},
	{0x4008010B, "Interpretation Text", "X", false},
	{0x4008010A, "Interpretation Transcriber", "X", false},
	{0x00083010, "Irradiation Event UID", "U", false},
	{0x00380011, "Issuer of Admission ID", "X", false},
	{0x00100021, "Issuer of Patient ID", "X", false},
	{0x00380061, "Issuer of Service Episode ID", "X", false},
	{0x00402004, "Issue Date of Imaging Service Request", "X", true},
	{0x00402005, "Issue Time of Imaging Service Request", "X", true},
	{0x00281214, "Large Palette Color Lookup Table UID", "U", false},
	{0x001021D0, "Last Menstrual Date", "X", true},
	{0x04000404, "MAC", "X", false},
	{0x00020003, "Media Storage SOP Instance UID", "U", false},
	{0x00102000, "Medical Alerts", "X", false},
	{0x00101090, "Medical Record Locator", "X", false},
	{0x00101080, "Military Rank", "X", false},
	{0x00203401, "Modifying Device ID", "X", false},
	{0x00203404, "Modifying Device Manufacturer", "X", false},
	{0x00203406, "Modified Image Description", "X", false},
	{0x00081060, "Name of Physician(s) Reading Study", "X", false},
	{0x00401010, "Names of Intended Recipients of Results", "X", false},
	{0x0040A032, "Observation DateTime", "X", true},
	{0x00102180, "Occupation", "X", false},
	{0x00081072, "Operators' Identification Sequence", "X/D", false},
	{0x00081070, "Operators' Name", "X/Z/D", false},
	{0x04000561, "Original Attributes Sequence", "X", false},
	{0x00402010, "Order Callback Phone Number", "X", false},
	{0x00402008, "Order Entered By", "X", false},
	{0x00402009, "Order Enterer's Location", "X", false},
	{0x00101000, "Other Patient IDs", "X", false},
	{0x00101002, "Other Patient IDs Sequence", "X", false},
	{0x00101001, "Other Patient Names", "X", false},
	{0x00080024, "Overlay Date", "X", true},
	{0x00080034, "Overlay Time", "X", true},
	{0x00281199, "Palette Color Lookup Table UID", "U", false},
	{0x0040A07A, "Participant Sequence", "X", false},
	{0x00101040, "Patient's Address", "X", false},
	{0x00104000, "Patient Comments", "X", false},
	{0x00100020, "Patient ID", "Z", false},
	{0x00102203, "Patient's Sex Neutered", "X/Z", false},
	{0x00380500, "Patient State", "X", false},
	{0x00401004, "Patient Transport Arrangements", "X", false},
	{0x00101010, "Patient's Age", "X", false},
	{0x00100030, "Patient's Birth Date", "Z", true},
	{0x00101005, "Patient's Birth Name", "X", false},
	{0x00100032, "Patient's Birth Time", "X", true},
	{0x00380400, "Patient's Institution Residence", "X", false},
	{0x00100050, "Patient's Insurance Plan Code Sequence", "X", false},
	{0x00101060, "Patient's Mother's Birth Name", "X", false},
	{0x00100010, "Patient's Name", "Z", false},
	{0x00100101, "Patient's Primary Language Code Sequence", "X", false},
	{0x00100102, "Patient's Primary Language Modifier Code Sequence", "X", false},
	{0x001021F0, "Patient's Religious Preference", "X", false},
	{0x00100040, "Patient's Sex", "Z", false},
	{0x00101020, "Patient's Size", "X", false},
	{0x00102154, "Patient's Telephone Numbers", "X", false},
	{0x00101030, "Patient's Weight", "X", false},
	{0x00400243, "Performed Location", "X", false},
	{0x00400254, "Performed Procedure Step Description", "X", false},
	{0x00400250, "Performed Procedure Step End Date", "X", true},
	{0x00400251, "Performed Procedure Step End Time", "X", true},
	{0x00400253, "Performed Procedure Step ID", "X", false},
	{0x00400244, "Performed Procedure Step Start Date", "X", true},
	{0x00400245, "Performed Procedure Step Start Time", "X", true},
	{0x00400241, "Performed Station AE Title", "X", false},
	{0x00404030, "Performed Station Geographic Location Code Sequence", "X", false},
	{0x00400242, "Performed Station Name", "X", false},
	{0x00400248, "Performed Station Name Code Sequence", "X", false},
	{0x00081052, "Performing Physicians' Identification Sequence", "X", false},
	{0x00081050, "Performing Physicians' Name", "X", false},
	{0x00401102, "Person's Address", "X", false},
	{0x00401101, "Person Identification Code Sequence", "D", false},
	{0x0040A123, "Person Name", "D", false},
	{0x00401103, "Person's Telephone Numbers", "X", false},
	{0x40080114, "Physician Approving Interpretation", "X", false},
	{0x00081062, "Physician(s) Reading Study Identification Sequence", "X", false},
	{0x00081048, "Physician(s) of Record", "X", false},
	{0x00081049, "Physician(s) of Record Identification Sequence", "X", false},
	{0x00402016, "Placer Order Number / Imaging Service Request", "Z", false},
	{0x00181004, "Plate ID", "X", false},
	{0x00400012, "Pre-Medication", "X", false},
	{0x001021C0, "Pregnancy Status", "X", false},
	{0x00081032, "Procedure Code Sequence", "X/D", false},
	{0x00181030, "Protocol Name", "X/D", false},
	{0x00402001, "Reason for Imaging Service Request", "X", false},
	{0x00321030, "Reason for Study", "X", false},
	{0x00401002, "Reason for the Requested Procedure", "X", false},
	{0x04000402, "Referenced Digital Signature Sequence", "X", false},
	{0x30060024, "Referenced Frame of Reference UID", "U", false},
	{0x00404023, "Referenced General Purpose Scheduled Procedure Step Transaction UID", "U", false},
	{0x00081140, "Referenced Image Sequence", "X/Z/U*", false},
	{0x00381234, "Referenced Patient Alias Sequence", "X", false},
	{0x00101100, "Referenced Patient Photo Sequence", "X", false},
	{0x00081120, "Referenced Patient Sequence", "X", false},
	{0x00081111, "Referenced Performed Procedure Step Sequence", "X/Z/D", false},
	{0x04000403, "Referenced SOP Instance MAC Sequence", "X", false},
	{0x00081155, "Referenced SOP Instance UID", "U", false},
	{0x00041511, "Referenced SOP Instance UID in File", "U", false},
	{0x00081110, "Referenced Study Sequence", "X/Z", false},
	{0x00080092, "Referring Physician's Address", "X", false},
	{0x00080090, "Referring Physician's Name", "Z", false},
	{0x00080094, "Referring Physician's Telephone Numbers", "X", false},
	{0x00080096, "Referring Physician Identification Sequence", "X", false},
	{0x00102152, "Region of Residence", "X", false},
	{0x300600C2, "Related Frame of Reference UID", "U", false},
	{0x00400275, "Request Attributes Sequence", "X", false},
	{0x00321070, "Requested Contrast Agent", "X", false},
	{0x00401400, "Requested Procedure Comments", "X", false},
	{0x00321060, "Requested Procedure Description", "X/Z", false},
	{0x00401001, "Requested Procedure ID", "X", false},
	{0x00401005, "Requested Procedure Location", "X", false},
	{0x00321032, "Requesting Physician", "X", false},
	{0x00321033, "Requesting Service", "X", false},
	{0x00102299, "Responsible Organization", "X", false},
	{0x00102297, "Responsible Person", "X", false},
	{0x40084000, "Results Comments", "X", false},
	{0x40080118, "Results Distribution List Sequence", "X", false},
	{0x40080042, "Results ID Issuer", "X", false},
	{0x300E0008, "Reviewer Name", "X/Z", false},
	{0x00404034, "Scheduled Human Performers Sequence", "X", false},
	{0x0038001E, "Scheduled Patient Institution Residence", "X", false},
	{0x0040000B, "Scheduled Performing Physician Identification Sequence", "X", false},
	{0x00400006, "Scheduled Performing Physician Name", "X", false},
	{0x00400004, "Scheduled Procedure Step End Date", "X", true},
	{0x00400005, "Scheduled Procedure Step End Time", "X", true},
	{0x00400007, "Scheduled Procedure Step Description", "X", false},
	{0x00400009, "Scheduled Procedure Step ID", "X", false},
	{0x00400011, "Scheduled Procedure Step Location", "X", false},
	{0x00400002, "Scheduled Procedure Step Start Date", "X", true},
	{0x00400003, "Scheduled Procedure Step Start Time", "X", true},
	{0x00400001, "Scheduled Station AE Title", "X", false},
	{0x00404027, "Scheduled Station Geographic Location Code Sequence", "X", false},
	{0x00400010, "Scheduled Station Name", "X", false},
	{0x00404025, "Scheduled Station Name Code Sequence", "X", false},
	{0x00321020, "Scheduled Study Location", "X", false},
	{0x00321021, "Scheduled Study Location AE Title", "X", false},
	{0x00321000, "Scheduled Study Start Date", "X", true},
	{0x00321001, "Scheduled Study Start Time", "X", true},
	{0x00080021, "Series Date", "X/D", true},
	{0x0008103E, "Series Description", "X", false},
	{0x0020000E, "Series Instance UID", "U", false},
	{0x00080031, "Series Time", "X/D", true},
	{0x00380062, "Service Episode Description", "X", false},
	{0x00380060, "Service Episode ID", "X", false},
	{0x001021A0, "Smoking Status", "X", false},
	{0x00080018, "SOP Instance UID", "U", false},
	{0x00082112, "Source Image Sequence", "X/Z/U*", false},
	{0x00380050, "Special Needs", "X", false},
	{0x00081010, "Station Name", "X/Z/D", false},
	{0x00880140, "Storage Media File-set UID", "U", false},
	{0x00324000, "Study Comments", "X", false},
	{0x00080020, "Study Date", "Z", true},
	{0x00081030, "Study Description", "X", false},
	{0x00200010, "Study ID", "Z", false},
	{0x00320012, "Study ID Issuer", "X", false},
	{0x0020000D, "Study Instance UID", "U", false},
	{0x00080030, "Study Time", "Z", true},
	{0x00200200, "Synchronization Frame of Reference UID", "U", false},
	{0x0040DB0D, "Template Extension Creator UID", "U", false},
	{0x0040DB0C, "Template Extension Organization UID", "U", false},
	{0x40004000, "Text Comments", "X", false},
	{0x20300020, "Text String", "X", false},
	{0x00080201, "Timezone Offset From UTC", "X", false},
	{0x00880910, "Topic Author", "X", false},
	{0x00880912, "Topic Keywords", "X", false},
	{0x00880906, "Topic Subject", "X", false},
	{0x00880904, "Topic Title", "X", false},
	{0x00620021, "Tracking UID", "U", false},
	{0x00081195, "Transaction UID", "U", false},
	{0x0040A124, "UID", "U", false},
	{0x0040A030, "Verification DateTime", "D", true},
	{0x0040A088, "Verifying Observer Identification Code Sequence", "Z", false},
	{0x0040A075, "Verifying Observer Name", "D", false},
	{0x0040A073, "Verifying Observer Sequence", "D", false},
	{0x0040A027, "Verifying Organization", "X", false},
	{0x00384000, "Visit Comments", "X", false},
	// File meta information: the Basic Profile removes AE titles wherever
	// they occur (Performed/Scheduled Station AE Title); a receiving node
	// writes the sender's here.
	{0x00020016, "Source Application Entity Title", "X", false},
	{0x00020017, "Sending Application Entity Title", "X", false},
	{0x00020018, "Receiving Application Entity Title", "X", false},
}

// Attributes that are Type 1 or 2 in the MR Image, Enhanced MR Image or
// Segmentation IODs, where X/Z/D must keep the attribute (E.3: "X unless Z
// or D is required to maintain IOD conformance").
var (
	type1 = map[uint32]bool{
		0x00181000: true, // Device Serial Number: Enhanced General Equipment, Type 1
		0x00080023: true, // Content Date: Type 1 in the Enhanced MR and SEG IODs
		0x00080033: true, // Content Time
	}
	type2 = map[uint32]bool{
		0x00080050: true, 0x00080090: true, 0x00200010: true, 0x00100010: true,
		0x00100020: true, 0x00100030: true, 0x00100040: true, 0x00080020: true,
		0x00080030: true, 0x00180010: true, 0x00700084: true,
	}
)

// resolved is the single action applied to one attribute.
type resolved byte

const (
	actKeep    resolved = 'K'
	actRemove  resolved = 'X'
	actZero    resolved = 'Z'
	actDummy   resolved = 'D'
	actClean   resolved = 'C'
	actUID     resolved = 'U'
	actRecurse resolved = 'R' // U*: keep the sequence, replace the UIDs inside
)

var byTag = func() map[uint32]Rule {
	m := make(map[uint32]Rule, len(Table))
	for _, r := range Table {
		m[r.Tag] = r
	}
	return m
}()

// Resolve turns a rule into the one action applied, for the option this
// package implements (Retain Longitudinal Temporal Information with
// Modified Dates).
func (r Rule) Resolve() resolved {
	if r.Option {
		return actClean
	}
	switch r.Basic {
	case "X", "K", "U", "Z", "D":
		return resolved(r.Basic[0])
	case "X/Z/U*":
		return actRecurse
	case "X/Z", "Z/D":
		if type2[r.Tag] || r.Basic == "Z/D" {
			return actZero
		}
		return actRemove
	case "X/D", "X/Z/D":
		switch {
		case type1[r.Tag]:
			return actDummy
		case type2[r.Tag]:
			return actZero
		}
		return actRemove
	}
	return actRemove // an unknown code removes: the safe side
}
