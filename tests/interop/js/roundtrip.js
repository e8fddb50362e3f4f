// kafkajs against a Weir broker: create a topic, produce keyed messages
// with headers (acks=all, idempotent), consume them in a consumer group
// (FindCoordinator/JoinGroup/SyncGroup/Heartbeat/OffsetCommit), then check
// that a second consumer of the same group resumes after the committed
// offsets and sees only the newer messages.
// Usage: node roundtrip.js BOOTSTRAP
const { Kafka, logLevel } = require('kafkajs')

const bootstrap = process.argv[2]
const kafka = new Kafka({ clientId: 'weir-interop', brokers: [bootstrap], logLevel: logLevel.WARN })
const topic = 'kafkajs-orders'
const FIRST = 500
const SECOND = 50

function fail(msg) {
  console.error('FAIL: ' + msg)
  process.exit(1)
}

async function produce(from, count) {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  const messages = []
  for (let i = from; i < from + count; i++) {
    messages.push({ key: `k${i}`, value: `v${i}`, headers: { i: String(i) } })
  }
  await producer.send({ topic, acks: -1, messages })
  await producer.disconnect()
}

async function consume(want, timeoutMs) {
  const consumer = kafka.consumer({ groupId: 'kafkajs-group', sessionTimeout: 10000 })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const seen = []
  await new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs)
    consumer.run({
      autoCommitInterval: 100,
      eachMessage: async ({ message }) => {
        const value = message.value.toString()
        if (message.key.toString() !== 'k' + value.slice(1)) fail('key/value mismatch ' + value)
        if (message.headers.i.toString() !== value.slice(1)) fail('header mismatch ' + value)
        seen.push(value)
        if (seen.length >= want) {
          clearTimeout(timer)
          resolve()
        }
      },
    })
  })
  await consumer.disconnect()
  return seen
}

async function main() {
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }] })
  await admin.disconnect()

  await produce(0, FIRST)
  const first = await consume(FIRST, 30000)
  if (first.length !== FIRST || new Set(first).size !== FIRST) fail(`first consumer saw ${first.length} messages`)

  await produce(FIRST, SECOND)
  const second = await consume(SECOND, 30000)
  const expected = new Set()
  for (let i = FIRST; i < FIRST + SECOND; i++) expected.add('v' + i)
  if (second.length !== SECOND || !second.every((v) => expected.has(v))) {
    fail(`second consumer saw ${second.length} messages: ${second.slice(0, 5)}`)
  }
  console.log(`kafkajs: ${FIRST} then ${SECOND} messages OK`)
}

main().catch((e) => fail(e.stack || String(e)))
