// One bad field of a value someone gave (a profile, a rule, a control message, a scenario): the
// dotted path to it and what is wrong. Validation everywhere speaks it; the control channel sends
// a list of them as the `data` of an InvalidParams error.
export interface FieldError {
  path: string;
  message: string;
}
