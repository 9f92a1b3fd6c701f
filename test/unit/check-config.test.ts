import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { checkConfigText } from '../../src/cli/check-config.ts';

test('a valid config with typos: valid, each unknown key with the likely intended key', () => {
  const c = checkConfigText(JSON.stringify({ servertype: 'receiver', obsk: 'x', downloadnum: 3, '//downloadnum': 'comment' }));
  assert.equal(c.valid, true);
  assert.equal(c.servertype, 'receiver');
  assert.deepEqual(c.warnings, ['unknown key "obsk": did you mean "obssk"?', 'unknown key "downloadnum": did you mean "downloadingnum"?']);
});

test('keys the role does not use are listed when set to something else than their default', () => {
  const c = checkConfigText(JSON.stringify({ servertype: 'receiver', httporigin: '127.0.0.1:8080', uploadingnum: 5, autosend: true, receiverstoreplan: 'B' }));
  assert.deepEqual(c.warnings, ['"httporigin" is set, but a receiver does not use it (used by: sender)']);
  const s = checkConfigText(JSON.stringify({ servertype: 'sender', receiverstoreplan: 'B' }));
  assert.deepEqual(s.warnings, ['"receiverstoreplan" is set, but a sender does not use it (used by: receiver)']);
  const copied = checkConfigText(JSON.stringify({ servertype: 'receiver', senderdomain: 'http://127.0.0.1:8080', cdnurl: 'http://127.0.0.1:8080', tracker: 'http://127.0.0.1:6969/announce' }));
  assert.deepEqual(copied.warnings, ['3 keys are set that a receiver does not use: senderdomain, cdnurl, tracker (docs/config.md says which role uses each)']);
});

test('an invalid config: every problem, each naming its field, as the daemon reports them', () => {
  const c = checkConfigText(JSON.stringify({ servertype: 'seeder', downloadingnum: 'many', cdntime: '8-18' }));
  assert.equal(c.valid, false);
  assert.deepEqual(c.problems.map((p) => p.split(':')[0]).sort(), ['cdntime', 'downloadingnum', 'servertype']);
});

test('a file that is not JSON: the line, the column and what is wrong there, never the text around it (it may hold a key)', () => {
  const c = checkConfigText('{\n  "servertype": "receiver",\n  "obssk": TOPSECRETVALUE\n}');
  assert.equal(c.valid, false);
  assert.equal(c.problems[0], 'not JSON: line 3, column 12: an unquoted word where a value belongs (strings need double quotes, and true, false and null are the only bare words)');
  assert.doesNotMatch(c.problems.join(' '), /TOP|SECRET|T'/);
  const cut = checkConfigText('{\n  "servertype": "receiver",\n  "obssk": "TOPSECRETVALUE",\n}');
  assert.deepEqual(cut.problems, ["not JSON: line 3, column 28: a ',' before '}' (JSON allows no trailing comma)"]);
  // The case (V8 says "Expected ',' or '}' after property value ... at position 31"):
  // the comma belongs at the end of line 2, not where the parser noticed.
  const comma = checkConfigText('{\n  "servertype": "receiver"\n  "apilisten": "127.0.0.1:8191"\n}');
  assert.deepEqual(comma.problems, ["not JSON: line 2, column 27: ',' missing at the end of line 2 (the next key or value starts at line 3, column 3)"]);
});

test('JSON syntax errors: each kind in words, columns in characters, punctuation quoted and nothing else', () => {
  const problem = (text: string) => checkConfigText(text).problems[0];
  assert.equal(problem('{"basesubdir": "中文" "x": 1}'), "not JSON: line 1, column 21: ',' or a closing bracket expected, found '\"'");
  assert.equal(problem("{\n\t'servertype': 'receiver'}"), 'not JSON: line 2, column 2: strings need double quotes ("), not single ones');
  assert.equal(problem('{servertype: "receiver"}'), 'not JSON: line 1, column 2: keys need double quotes, found an unquoted word');
  assert.equal(problem('{"servertype": "receiver" // the role\n}'), 'not JSON: line 1, column 27: comments are not JSON (write a "//key": "..." entry instead)');
  assert.equal(problem('{"basedatapath": "D:\\data"}'), 'not JSON: line 1, column 21: a \'\\\' inside a string must be followed by one of " \\ / b f n r t u (write \\\\ for a backslash)');
  assert.equal(problem('{"servertype" "receiver"}'), "not JSON: line 1, column 15: ':' expected after the key, found '\"'");
  assert.equal(problem('{"servertype": "receiver"'), "not JSON: line 1, column 26: '}' expected to close the object, the text ends");
  assert.equal(problem('{"servertype": '), 'not JSON: line 1, column 16: a value expected, the text ends');
  assert.equal(problem('{"downloadingnum": 3} 4'), 'not JSON: line 1, column 23: more text after the end of the JSON object, found a number');
  assert.equal(problem(''), 'not JSON: the file is empty');
  // A byte order mark (Windows editors) is not an error.
  assert.equal(checkConfigText('\uFEFF{"servertype": "receiver"}').valid, true);
});

test('addresses and ports: out of range, not a host, two servers on one port, URLs of the wrong kind', () => {
  const problems = (c: Record<string, unknown>) => checkConfigText(JSON.stringify({ servertype: 'sender', ...c }), ['127.0.0.1']).problems;
  assert.deepEqual(problems({ apilisten: '127.0.0.1:99999' }), ['apilisten: port 99999 is out of range: it must be from 1 to 65535']);
  assert.deepEqual(problems({ metricslisten: '127.0.0.1:0' }), ['metricslisten: port 0 is out of range: it must be from 1 to 65535']);
  assert.deepEqual(problems({ httporigin: '256.0.0.1:8080' }), ['httporigin: 256.0.0.1 is not an IPv4 address']);
  assert.deepEqual(problems({ embeddedtracker: '6969' }), ['embeddedtracker: must be host:port, e.g. 127.0.0.1:8191, or "" for none']);
  assert.deepEqual(problems({ httporigin: '127.0.0.1:8191' }), ['httporigin: port 8191 is taken by apilisten (127.0.0.1:8191) too: each server needs a port of its own']);
  assert.deepEqual(problems({ apilisten: '0.0.0.0:6881' }), ['btport: port 6881 is taken by apilisten (0.0.0.0:6881) too: each server needs a port of its own']);
  assert.deepEqual(problems({ apilisten: 'localhost:9000', metricslisten: '127.0.0.1:9000' }), ['metricslisten: port 9000 is taken by apilisten (localhost:9000) too: each server needs a port of its own']);
  // One port on two different addresses is fine.
  assert.deepEqual(problems({ apilisten: '127.0.0.1:9000', metricslisten: '127.0.0.2:9000' }), []);
  // A receiver runs no HTTP origin: its httporigin takes no port.
  assert.equal(checkConfigText(JSON.stringify({ servertype: 'receiver', httporigin: '127.0.0.1:8191' }), ['127.0.0.1']).valid, true);
  assert.deepEqual(problems({ cdnurl: 'http://cdn.example.org:70000' }), ['cdnurl: URL port 70000 is out of range: it must be from 1 to 65535']);
  assert.deepEqual(problems({ senderdomain: 'dcp.example.org' }), ['senderdomain: must be a http:// or https:// URL, e.g. http://dcp.example.org']);
  assert.deepEqual(problems({ tracker: 'udp://tracker.example.org:6969' }), []);
  assert.deepEqual(problems({ obsendpoint: 'obs.example.org:99999' }), ['obsendpoint: port 99999 is out of range: it must be from 1 to 65535']);
  assert.deepEqual(problems({ obsurl: 's3://cfec-001' }), ['obsurl: must be obs://<bucket>']);
  // A listen address that is not this machine's: a warning (the file may be for another machine).
  const elsewhere = checkConfigText(JSON.stringify({ servertype: 'receiver', apilisten: '192.0.2.7:8191' }), ['127.0.0.1', '198.18.0.5']);
  assert.equal(elsewhere.valid, true);
  assert.deepEqual(elsewhere.warnings, ['"apilisten": 192.0.2.7 is not an address of this machine: the daemon could not listen there (fine if the file is for another machine)']);
});

test('the install template: refused until servertype is chosen; then only its placeholders are left to fill', async () => {
  const text = await readFile(new URL('../../packaging/config.json.template', import.meta.url), 'utf8');
  const c = checkConfigText(text);
  assert.equal(c.valid, false);
  assert.deepEqual(c.problems.map((p) => p.split(':')[0]), ['servertype']);
  const chosen = checkConfigText(text.replace('"<sender|receiver|cacher>"', '"sender"'));
  assert.equal(chosen.valid, true);
  assert.ok(chosen.warnings.length > 0);
  for (const w of chosen.warnings) assert.match(w, /still holds a placeholder|keys are set that a sender does not use: receiverid, vip /);
  assert.ok(!chosen.warnings.some((w) => w.startsWith('unknown key')), 'comment keys are not unknown keys');
});
