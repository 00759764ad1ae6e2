/**
 * The demo clinic's form templates, one of each kind: what a clinic starts from. Built from the same
 * path → field mapping the agent and the gap scanner use, plus a consent and a screening form.
 */
import { specForPaths } from "../shared/surfaces/from-paths";
import type { SurfaceSpecInput } from "../shared/surfaces/spec";

export interface DemoTemplate {
  name: string;
  kind: "intake" | "consent" | "screening" | "update";
  spec: SurfaceSpecInput;
}

const PHQ_OPTIONS = [
  { value: "0", label: "Not at all" },
  { value: "1", label: "Several days" },
  { value: "2", label: "More than half the days" },
  { value: "3", label: "Nearly every day" },
];

export const DEMO_TEMPLATES: DemoTemplate[] = [
  {
    name: "New patient intake",
    kind: "intake",
    spec: specForPaths(
      [
        "demographics.birth_date",
        "contact.phone",
        "contact.email",
        "contact.address",
        "coverage",
        "allergies",
        "medications",
      ],
      { title: "New patient intake", description: "Tell us about yourself before your first visit." },
    )!,
  },
  {
    name: "Consent to treatment",
    kind: "consent",
    spec: {
      title: "Consent to treatment",
      fields: [
        {
          key: "consent_info",
          label: "Please read",
          field_type: "info",
          description:
            "By signing you agree that the clinic may examine and treat you, and share your information with your insurer for payment.",
        },
        {
          key: "consent_given",
          label: "I agree",
          field_type: "checkbox",
          consent_text: "I consent to examination and treatment and to sharing my information for payment.",
        },
        { key: "signature", label: "Your signature", field_type: "signature" },
      ],
    },
  },
  {
    name: "PHQ-2 depression screening",
    kind: "screening",
    spec: {
      title: "Two questions about your mood",
      description: "Over the last two weeks, how often have you been bothered by the following?",
      fields: [
        {
          key: "phq_interest",
          label: "Little interest or pleasure in doing things",
          field_type: "select",
          options: PHQ_OPTIONS,
        },
        {
          key: "phq_mood",
          label: "Feeling down, depressed or hopeless",
          field_type: "select",
          options: PHQ_OPTIONS,
        },
      ],
    },
  },
  {
    name: "Contact details update",
    kind: "update",
    spec: specForPaths(["contact.phone", "contact.email", "contact.address", "preferences.channel"], {
      title: "Are your contact details current?",
    })!,
  },
];
